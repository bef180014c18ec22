"""The fhir-server command."""
from __future__ import annotations

import argparse
import subprocess
import sys

from fhir_server.cli import build_parser


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fhir_server.cli", *args], capture_output=True, text=True)


def test_capability_check_passes_for_the_committed_file():
    result = run_cli("capability", "--check")
    assert result.returncode == 0, result.stderr


def test_capability_check_fails_for_a_stale_file(tmp_path):
    stale = tmp_path / "capability.json"
    stale.write_text("{}")
    result = run_cli("capability", "--check", "--output", str(stale))
    assert result.returncode == 1 and "out of date" in result.stderr
    assert run_cli("capability", "--output", str(stale)).returncode == 0
    assert run_cli("capability", "--check", "--output", str(stale)).returncode == 0


def test_audit_verify_refuses_a_patient_that_is_not_an_id():
    result = run_cli("audit", "verify", "--patient", "x:y")
    assert result.returncode == 2 and "not a Patient id: x:y" in result.stderr


def every_command(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, parser) of `fhir-server` and of each of its commands and subcommands."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from every_command(sub, (*path, name))


def test_every_command_says_what_it_does_with_an_example():
    commands = list(every_command(build_parser()))
    assert len(commands) > 20
    for words, parser in commands:
        text = parser.format_help()
        assert parser.description and len(parser.description) > 20, words
        lines = text.splitlines()
        at = next((i for i, line in enumerate(lines) if line.startswith("example")), None)
        assert at is not None, f"no example in `fhir-server {' '.join(words)} --help`"
        example = " ".join(lines[at + 1:at + 3])
        assert f"fhir-server {' '.join(words)}".strip() in example, (words, example)


def test_help_is_shown_by_the_program():
    result = run_cli("clients", "add", "--help")
    assert result.returncode == 0 and "--generate-key DIR" in result.stdout and "example:" in result.stdout
