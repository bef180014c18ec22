"""The fhir-validate command: files checked offline as $validate checks them, for vendors' CI pipelines."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fhir_server.validate_cli import main
from tests.conftest import REPO_ROOT

# with a narrative each: a resource without one gets dom-6, a best-practice warning
NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Weight</div>'}
OBSERVATION = {"resourceType": "Observation", "text": NARRATIVE, "status": "final", "code": {"text": "weight"},
               "valueQuantity": {"value": 72.5, "unit": "kg"}}
QUESTIONNAIRE = {"resourceType": "Questionnaire", "text": NARRATIVE,
                 "item": [{"linkId": "1", "text": "Weight?", "type": "weight"}]}
LOCATION_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Location xmlns="http://hl7.org/fhir"><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">Ward 3</div></text><status value="closed"/><name value="Ward 3"/></Location>"""


def run(*args: str | Path) -> subprocess.CompletedProcess:
    """The command's entry point (pyproject's console script calls it) in this process: the R4 definitions
    are loaded once for the tests (test_the_command_runs_alone runs it as its own process)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit:  # argparse: --help, usage errors
            code = exit.code
    return subprocess.CompletedProcess(args, code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture()
def files(tmp_path) -> dict[str, Path]:
    paths = {"good": tmp_path / "observation.json", "bad": tmp_path / "questionnaire.json",
             "xml": tmp_path / "location.xml"}
    paths["good"].write_text(json.dumps(OBSERVATION))
    paths["bad"].write_text(json.dumps(QUESTIONNAIRE))
    paths["xml"].write_text("\n  " + LOCATION_XML)
    return paths


def test_the_console_script_is_declared():
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["fhir-validate"] == "fhir_server.validate_cli:main"


def test_a_valid_file_exits_0(files):
    result = run(files["good"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "1 file: 0 errors, 0 warnings, 0 information (0 files with errors)\n"


def test_an_invalid_file_exits_1_naming_each_element(files):
    result = run(files["good"], files["bad"])
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"{files['bad']}: error code-invalid Questionnaire.item[0].type: 'weight' is not one of the allowed codes "
        "(group, display, boolean, decimal, integer, date, dateTime, time, string, text, url, choice, ...)",
        f"{files['bad']}: error required Questionnaire.status: Missing required element 'status'"]
    assert lines[2:] == ["2 files: 2 errors, 0 warnings, 0 information (1 file with errors)"]


def test_errors_writes_tolerate_fail_by_default_and_are_warnings_with_lenient(tmp_path):
    """As the official validator by default; as the server would judge a write with --lenient."""
    path = tmp_path / "vendor.json"
    path.write_text(json.dumps({**OBSERVATION, "extension": [{"url": "https://vendor.fr/fhir/ext", "valueString": "x"}]}))
    strict = run(path)
    assert strict.returncode == 1
    assert strict.stdout.splitlines() == [
        f"{path}: error structure Observation.extension[0]: The extension https://vendor.fr/fhir/ext could not be "
        "found so is not allowed here (its definition is unknown here; a write accepts it)",
        "1 file: 1 error, 0 warnings, 0 information (1 file with errors)"]
    lenient = run("--lenient", path)
    assert lenient.returncode == 0
    assert lenient.stdout.splitlines()[0].startswith(f"{path}: warning structure Observation.extension[0]: ")


def test_an_xml_file_is_read_by_its_content(files):
    result = run(files["xml"])
    assert result.returncode == 1
    assert result.stdout.startswith(f"{files['xml']}: error code-invalid Location.status: 'closed' ")
    files["xml"].write_text(LOCATION_XML.replace("closed", "active"))
    assert run(files["xml"]).returncode == 0


def test_json_output_is_one_operation_outcome_per_file(files, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Group",')
    result = run("--format", "json", files["good"], files["bad"], files["xml"], broken)
    assert result.returncode == 1
    outcomes = json.loads(result.stdout)
    assert list(outcomes) == [str(files[k]) for k in ("good", "bad", "xml")] + [str(broken)]
    assert all(o["resourceType"] == "OperationOutcome" for o in outcomes.values())
    assert outcomes[str(files["good"])]["issue"] == [
        {"severity": "information", "code": "informational", "diagnostics": "No problems found"}]
    bad = outcomes[str(files["bad"])]["issue"]
    assert [(i["severity"], i["code"], i["expression"], i["location"]) for i in bad] == [
        ("error", "code-invalid", ["Questionnaire.item[0].type"], ["Questionnaire.item[0].type"]),
        ("error", "required", ["Questionnaire.status"], ["Questionnaire.status"])]
    [unparsed] = outcomes[str(broken)]["issue"]
    assert (unparsed["severity"], unparsed["code"]) == ("fatal", "structure")
    assert unparsed["diagnostics"].startswith("Not valid JSON")


def test_a_missing_file_is_a_usage_error_the_others_still_checked(files, tmp_path):
    missing = tmp_path / "nowhere.json"
    result = run(files["good"], missing)
    assert result.returncode == 2
    assert result.stderr == f"fhir-validate: {missing}: cannot read the file: No such file or directory\n"
    assert "Traceback" not in result.stderr and result.stdout.startswith("2 files: 1 error,")
    unreadable = run(tmp_path)  # a folder: an error reported, not a traceback
    assert unreadable.returncode == 2 and "cannot read the file" in unreadable.stderr
    assert "Traceback" not in unreadable.stderr
    assert run().returncode == 2 and run("--format", "yaml", files["good"]).returncode == 2


def test_an_unknown_profile_is_a_not_found_issue(files):
    url = "https://example.org/StructureDefinition/nothing-like-it"
    result = run("--profile", url, files["good"])
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        f"{files['good']}: error not-found Observation: The profile {url} is not known to this server")
    # The server's own profiles apply, named or claimed in meta.profile: an INS needs a birth date (ins-1).
    record_patient = "https://fhir-server.org/StructureDefinition/record-patient"
    patient = {"resourceType": "Patient", "text": NARRATIVE,
               "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "179031512345678"}]}
    named, claimed = files["good"].with_name("named.json"), files["good"].with_name("claimed.json")
    named.write_text(json.dumps(patient))
    claimed.write_text(json.dumps({**patient, "meta": {"profile": [record_patient]}}))
    assert run(named).returncode == 0
    for result, path in ((run("--profile", record_patient, named), named), (run(claimed), claimed)):
        assert result.returncode == 1
        assert result.stdout.startswith(f"{path}: error invariant Patient: Constraint failed: ins-1: A patient "
                                        "identified by an INS"), result.stdout


def test_help_explains_the_formats_and_exit_codes():
    result = run("--help")
    assert result.returncode == 0
    for words in ("FILE: severity code path: message", "OperationOutcome", "'<' is read as XML", "exit status",
                  "--profile URL", "--format {text,json}"):
        assert words in result.stdout, words


def test_the_command_runs_alone(files):
    result = subprocess.run([sys.executable, "-m", "fhir_server.validate_cli", str(files["good"]), str(files["xml"])],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert result.returncode == 1 and result.stderr == ""
    assert result.stdout.splitlines() == [
        f"{files['xml']}: error code-invalid Location.status: 'closed' is not one of the allowed codes (active, "
        "suspended, inactive)", "2 files: 1 error, 0 warnings, 0 information (1 file with errors)"]


def test_the_command_imports_neither_flask_nor_the_database_driver(files):
    check = ("import sys; from fhir_server.validate_cli import main; code = main([sys.argv[1]]); "
             "print(sorted(m for m in ('flask', 'werkzeug', 'pymongo', 'gunicorn') if m in sys.modules), code)")
    result = subprocess.run([sys.executable, "-c", check, str(files["xml"])], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=60)
    assert result.stdout.splitlines()[-1] == "[] 1", result.stdout + result.stderr
