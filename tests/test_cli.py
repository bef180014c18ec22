"""The fhir-server command."""
from __future__ import annotations

import subprocess
import sys


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
