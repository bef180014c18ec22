"""to_fhir on whole files: the fixtures and the shared samples (batches split into their messages) give the
committed golden outcome (HL7V2_REGENERATE=1 rewrites the golden files), and every resource is valid R4."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from validation import validate_resource

from .support import FIXTURE_FILES, GOLDEN, SHARED_SAMPLES, outcome


@pytest.mark.parametrize("path", FIXTURE_FILES + SHARED_SAMPLES, ids=lambda path: path.name)
def test_golden(path: Path) -> None:
    produced = json.loads(json.dumps(outcome(path.read_bytes())))
    golden = GOLDEN / f"{path.stem}.json"
    if os.environ.get("HL7V2_REGENERATE"):
        golden.write_text(json.dumps(produced, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert produced == json.loads(golden.read_text(encoding="utf-8"))
    for result in produced.get("messages", []):
        for entry in [e for e in result.get("bundle", {}).get("entry", []) if "resource" in e]:  # not DELETEs
            errors = [issue for issue in validate_resource(entry["resource"], invariants=True) if issue.severity == "error"]
            assert not errors, (entry["fullUrl"], errors)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.name)
def test_fixtures_all_map(path: Path) -> None:
    """Every fixture message is a supported, well-formed message."""
    assert all("bundle" in result for result in outcome(path.read_bytes())["messages"])
