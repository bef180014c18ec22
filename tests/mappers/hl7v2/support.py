"""What the HL7 v2 mapper tests share: the messages they read and the outcome a golden file records."""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from mappers.errors import MappingError
from mappers.hl7v2 import batch_messages, to_fhir

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
SHARED = HERE.parents[3] / "shared" / "testdata" / "hl7v2"  # third-party samples, read in place (may be absent)

FIXTURE_FILES = sorted(FIXTURES.glob("*.hl7"))
SHARED_SAMPLES = sorted(path for path in SHARED.glob("*") if path.is_file()) if SHARED.is_dir() else []
SHARED_BAD = sorted((SHARED / "bad").glob("*")) if SHARED.is_dir() else []


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def error_of(error: MappingError) -> dict:
    return {"code": error.code, "location": error.location, "message": error.message}


def outcome(data: bytes) -> dict:
    """What a golden file records for a file: the Bundle (and the warnings) or the error of each message, or
    the error that stops the file from being split into messages."""
    try:
        messages = batch_messages(data)
    except MappingError as error:
        return {"error": error_of(error)}
    results = []
    for message in messages:
        warnings: list[MappingError] = []
        try:
            results.append({"bundle": to_fhir(message, warnings)})
        except MappingError as error:
            results.append({"error": error_of(error)})
            continue
        if warnings:
            results[-1]["warnings"] = [error_of(warning) for warning in warnings]
    return {"messages": results}


def within(seconds: float, work: Callable[[], object]) -> object:
    """The result (or exception) of `work`, which must end within `seconds` (run in a daemon thread)."""
    box: list[object] = []

    def run() -> None:
        try:
            box.append(work())
        except BaseException as error:  # handed to the caller
            box.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return box[0]
