"""The conformance suite (conformance/, HTTP only) run against our own server: everything it declares passes,
the reports are written, and the runner reports failures and skips with their reasons."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import requests
from lxml import etree

from conformance.auth import Auth
from conformance.capability import Declared
from conformance.runner import Context, run
from conformance.searched import found_variable
from fhir_server.auth.backend_client import register
from fhir_server.auth.clients import ClientRegistry
from tests.conftest import REPO_ROOT

from ..access.test_record_rules import patient_session
from ..auth.test_patients import REDIRECT, activated, code_from, exchange, patient_app  # noqa: F401
from ..auth.test_representatives import born, choose, link, record

PROFESSIONAL = {"practitioner": "810000000042", "profession": "10"}
# AuditEvent parameters whose elements our events leave empty (audit/events.py), so the suite cannot search by them
NOT_IN_OUR_EVENTS = ("_security", "_source", "_tag", "agent", "agent-name", "altid", "entity-name", "policy", "site",
                     "source")


@pytest.fixture(scope="module")
def credentials(db, base, tmp_path_factory):
    """--auth and --limited-auth arguments for two registered clients (all scopes; Patient read/search)."""
    folder = tmp_path_factory.mktemp("conformance")
    found = []
    for name, scopes in (("everything", ["system/*.cruds"]), ("limited", ["system/Patient.rs"])):
        client = register(db, base.removesuffix("/fhir"), f"Conformance {name}", scopes, professional=PROFESSIONAL)
        key_file = folder / f"{name}.json"
        key_file.write_text(json.dumps(client.key.as_dict(private=True)))
        found.append(f"smart:{client.client_id}:{key_file}")
    return found


def conformance(base: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--base", base, *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture()
def patient_token(http, base, database, db) -> str:
    """A patient's access token (authorization code + PKCE) for a record of their own."""
    _, ins = activated(http, base, database)
    app = ClientRegistry(db).add_public("Conformance patient app", [REDIRECT], ["patient/*.cruds"]).client_id
    return patient_session(base, app, ins).headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture()
def representative_token(http, base, database, patient_app) -> str:  # noqa: F811
    """The access token of a parent acting for their 10-year-old child."""
    origin = base.removesuffix("/fhir")
    _, parent_ins = activated(http, base, database)
    child = record(http, base, born(10), "Mineur")
    link(http, base, child, parent_ins)
    answer = choose(origin, patient_app.client_id, parent_ins, lambda values: child)
    return exchange(origin, patient_app.client_id, code_from(answer), answer.verifier).json()["access_token"]


def test_our_server_passes_everything_it_declares(base, credentials, patient_token, representative_token, tmp_path):
    everything, limited = credentials
    junit, page = tmp_path / "junit.xml", tmp_path / "report.html"
    done = conformance(base, "--auth", everything, "--limited-auth", limited, "--assertion-claims",
                       json.dumps(PROFESSIONAL), "--patient-auth", f"bearer:{patient_token}", "--emergency-claims",
                       json.dumps({"purpose_of_use": "ETREAT"}), "--representative-auth",
                       f"bearer:{representative_token}", "--var",
                       f"practitioner={PROFESSIONAL['practitioner']}", "--report", str(junit), "--report", str(page))
    failed = [line for line in done.stdout.splitlines() if not line.startswith(("PASS", "SKIP"))]
    assert done.returncode == 0, "\n".join(failed)[-8000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    passed = int(summary.split(",")[0].split(": ")[1])
    assert passed > 100 and "failed: 0" in summary, summary
    lines = done.stdout.splitlines()
    filtering = [line for line in lines if "search parameters filter" in line]
    skipped = {re.search(r"\((found_\w+)\)$", line)[1] if "holds no value" in line else line
               for line in filtering if not line.startswith("PASS")}
    assert len(filtering) > 900 and skipped == set(map(found_variable, NOT_IN_OUR_EVENTS))  # every form we take
    for name in ("_id", "_lastUpdated", "_profile", "action", "address", "agent-role", "date", "entity",
                 "entity-role", "entity-type", "outcome", "subtype", "type"):  # what our AuditEvents hold
        assert any(line.startswith(f"PASS [capability] AuditEvent search parameters filter: AuditEvent?{name}=<its ")
                   and line.endswith("> finds it") for line in lines), name
    for kind in ("Patient", "DocumentReference", "List", "Consent", "RelatedPerson", "Practitioner", "Organization"):
        assert f"PASS [capability] {kind} search parameters filter: {kind}?_lastUpdated=ge2000-01-01 finds it" in lines
        assert f"PASS [capability] {kind} interactions: {kind} patch (JSON Patch)" in lines
    for check in ("patient.identifier finds the document", "_has finds the patient with such a document"):
        assert f"PASS [search] chained parameters and _has: {check}" in lines  # we support chains: not skipped
    suites = etree.parse(str(junit)).getroot()
    tags = {suite.get("name") for suite in suites}
    assert {"capability", "crud", "history", "search", "transaction", "xml", "errors", "security"} <= tags
    assert all(suite.get("failures") == "0" for suite in suites)
    consent = next(suite for suite in suites if suite.get("name") == "consent")
    assert consent.get("skipped") == "0" and int(consent.get("tests")) >= 36  # the patient's rules ran too
    for check in ("the patient hides a document from professionals: the professional no longer knows the document",
                  "emergency (break-glass) access: emergency access no longer knows the record",
                  "a minor's legal representative: but not the one kept from legal representatives",
                  "the patient's activity history filters: not by another professional's"):
        assert f"PASS [consent] {check}" in lines
    html = page.read_text(encoding="utf-8")
    assert "<table>" in html and "capability" in html and "PASS" in html


def test_only_and_skips_with_their_reason(base, credentials):
    everything, _ = credentials
    done = conformance(base, "--auth", everything, "--assertion-claims", json.dumps(PROFESSIONAL), "--only", "security")
    assert done.returncode == 0, done.stdout[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL", "SKIP"))]
    assert lines and all("[security]" in line for line in lines)
    assert any(line.startswith("SKIP") and "limited credential" in line for line in lines)  # no --limited-auth


def test_a_failed_assertion_shows_the_request_and_response_and_undeclared_is_skipped(base, credentials):
    context = Context(base, Auth(credentials[0], base, PROFESSIONAL), requests.Session())
    declared = Declared(requests.get(f"{base}/metadata").json())
    wrong = {"name": "wrong", "tags": ["crud"], "actions": [{
        "name": "expects 418", "request": {"method": "GET", "path": "Patient/nobody-${unique}"},
        "assert": [{"status": 418}]}]}
    [result] = run(wrong, context, declared)
    assert result.status == "fail" and result.reason == "status 404, expected [418]"
    assert "GET " in result.exchange and "--> 404" in result.exchange and "OperationOutcome" in result.exchange
    undeclared = {**wrong, "requires": [{"resource": "Observation", "interaction": ["read"]}]}
    [skipped] = run(undeclared, context, declared)
    assert (skipped.status, skipped.reason) == ("skip", "the server does not declare Observation")


def test_an_unreachable_server_is_exit_2():
    done = conformance("http://127.0.0.1:9/fhir")
    assert done.returncode == 2 and "fhir-conformance:" in done.stderr
