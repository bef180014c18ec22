"""The conformance suite (conformance/, HTTP only) run against our own server: everything it declares passes,
the reports are written, and the runner reports failures and skips with their reasons."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import lxml.html
import pytest
import requests
from lxml import etree

from conformance.auth import Auth
from conformance.capability import Declared
from conformance.report import html
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
    cases = suites.findall(".//testcase")
    unruled = [case.get("name") for case in cases if not case.find("properties/property[@name='rule']").get("value")]
    assert len(cases) == passed + int(summary.split("skipped: ")[1]) and not unruled, unruled[:5]
    report = lxml.html.parse(str(page)).getroot()
    assert [section.get("id") for section in report.body.findall("section")] == ["summary", "fail", "skip", "pass"]
    rows = {row[0].text: [int(cell.text) for cell in row[1:]] for row in report.get_element_by_id("summary").iter("tr")
            if row[0].tag == "td"}
    assert rows == {suite.get("name"): [int(suite.get("tests")) - int(suite.get("failures")) - int(suite.get("skipped")),
                                        0, int(suite.get("skipped"))] for suite in suites}
    assert all(item.find("p[@class='rule']").text.startswith("Rule: ") for item in report.iter("li"))


def test_the_document_lifecycle_through_ingest(base, credentials):
    """HL7 v2 (initial transmission, replacement, deletion, the visibility flags as labels), CDA R2 (a
    replacement supersedes) and XDS.b (provide, a unique id refused twice, ITI-57 deletion) through $ingest."""
    everything, _ = credentials
    done = conformance(base, "--auth", everything, "--assertion-claims", json.dumps(PROFESSIONAL), "--only", "ingest")
    lines = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL", "SKIP"))]
    assert done.returncode == 0 and all(line.startswith("PASS [ingest]") for line in lines), done.stdout[-6000:]
    assert {line.split(": ")[0] for line in lines} == {"PASS [ingest] a document's life through HL7 v2 (ANS CI-SIS)",
                                                       "PASS [ingest] a document's life through CDA R2",
                                                       "PASS [ingest] a document's life through XDS.b"}
    assert len(lines) == 17


def test_only_and_skips_with_their_reason(base, credentials):
    everything, _ = credentials
    done = conformance(base, "--auth", everything, "--assertion-claims", json.dumps(PROFESSIONAL), "--only", "security")
    assert done.returncode == 0, done.stdout[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(("PASS", "FAIL", "SKIP"))]
    assert lines and all("[security]" in line for line in lines)
    assert any(line.startswith("SKIP") and "limited credential" in line for line in lines)  # no --limited-auth


@pytest.fixture()
def context(base, credentials) -> tuple[Context, Declared]:
    return Context(base, Auth(credentials[0], base, PROFESSIONAL), requests.Session()), \
        Declared(requests.get(f"{base}/metadata").json())


def test_a_failed_assertion_shows_the_request_the_answer_and_the_rule_and_undeclared_is_skipped(context):
    wrong = {"name": "wrong", "tags": ["crud"], "rule": "FHIR R4 http.html#read", "actions": [{
        "name": "expects 418", "request": {"method": "GET", "path": "Patient/nobody-${unique}"},
        "assert": [{"status": 418}]}]}
    [result] = run(wrong, *context)
    assert result.status == "fail" and result.rule == "FHIR R4 http.html#read"
    assert result.reason.startswith("status 404, expected [418] (the server's OperationOutcome: error not-found")
    assert "GET " in result.exchange and "--> 404" in result.exchange and "OperationOutcome" in result.exchange
    undeclared = {**wrong, "requires": [{"resource": "Observation", "interaction": ["read"]}]}
    [skipped] = run(undeclared, *context)
    assert (skipped.status, skipped.reason) == ("skip", "the server does not declare Observation")


REFUSED = {"resourceType": "Patient", "name": [{"family": "Refused"}], "gender": "robot"}  # not a gender: refused


def test_a_refused_fixture_is_one_failure_with_the_servers_answer_and_what_needs_it_is_skipped(context):
    scenario = {"name": "built on a fixture", "tags": ["capability"], "rule": "the rule", "actions": [
        {"name": "the Patient it needs", "request": {"method": "POST", "path": "Patient", "body": REFUSED},
         "assert": [{"status": 201}], "capture": {"patient": "location.id"}},
        {"name": "a document about them", "request": {"method": "POST", "path": "DocumentReference", "body": {
            "resourceType": "DocumentReference", "status": "current", "subject": {"reference": "Patient/${patient}"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}},
         "assert": [{"status": 201}], "capture": {"document": "location.id"}},
        {"name": "a check of the patient", "request": {"method": "GET", "path": "Patient?_id=${patient}"},
         "assert": [{"status": 200}]},
        {"name": "a check of the document", "request": {"method": "GET", "path": "DocumentReference/${document}"},
         "assert": [{"status": 200}]},
        {"name": "a check needing neither", "request": {"method": "GET", "path": "Patient?_count=1"},
         "assert": [{"status": 200}]}]}
    results = list(run(scenario, *context))
    assert [r.status for r in results] == ["fail", "skip", "skip", "skip", "pass"]
    refusal = results[0]
    assert re.match(r"status (400|422), expected \[201\] \(the server's OperationOutcome: error [a-z-]+: .*gender",
                    refusal.reason), refusal.reason
    assert "POST " in refusal.exchange and "robot" in refusal.exchange
    for skipped in results[1:4]:  # the document is skipped for want of the patient, and what needs it for the same
        assert skipped.reason == f"not run: 'the Patient it needs' failed: {refusal.reason}"
    assert all(r.rule == "the rule" for r in results)

    setup = {**scenario, "setup": scenario["actions"][:1], "actions": scenario["actions"][4:]}
    results = list(run(setup, *context))
    assert [(r.check, r.status) for r in results] == [("setup: the Patient it needs", "fail"),
                                                     ("a check needing neither", "skip")]
    assert results[1].reason == f"not run: setup 'the Patient it needs' failed: {results[0].reason}"

    page = lxml.html.fromstring(html(list(run(scenario, *context)), "http://server.example/fhir"))
    assert [section.get("id") for section in page.body.findall("section")] == ["summary", "fail", "skip", "pass"]
    [row] = [row for row in page.get_element_by_id("summary").iter("tr") if row[0].tag == "td"]
    assert [cell.text for cell in row] == ["capability", "1", "1", "3"]
    [failure] = page.get_element_by_id("fail").iter("li")
    assert failure.find("p[@class='rule']").text == "Rule: the rule"
    assert failure.find("p[@class='reason']").text.startswith("status 4")
    assert "POST " in failure.find("pre").text and "--> 4" in failure.find("pre").text


def test_a_create_refused_for_what_the_server_cannot_make_is_sent_again_without_it(context):
    """A reference to a resource the server declares no create for (a fixture it cannot make) is left out when
    the server refuses it: the instance is made, what searches that reference is skipped with the refusal."""
    scenario = {"name": "pruned", "tags": ["capability"], "rule": "r", "variables": {"Odd": "robot"}, "actions": [
        {"name": "an instance", "prune_on_refusal": ["Odd"], "request": {"method": "POST", "path": "Patient", "body": {
            "resourceType": "Patient", "name": [{"family": "Pruned${unique}"}],
            "contact": [{"gender": "${Odd}", "name": {"family": "Contact"}}]}},
         "assert": [{"status": 201}], "capture": {"id": "location.id"}},
        {"name": "found", "request": {"method": "GET", "path": "Patient?_id=${id}&family=Pruned${unique}"},
         "assert": [{"status": 200}, {"path": "entry.resource.contact", "exists": False}]},
        {"name": "by what was left out", "request": {"method": "GET", "path": "Patient?_id=${id}&gender=${Odd}"},
         "assert": [{"status": 200}]}],
        "teardown": [{"name": "delete", "request": {"method": "DELETE", "path": "Patient/${id}"}}]}
    made, found, left_out = run(scenario, *context)
    assert (made.status, found.status, left_out.status) == ("pass", "pass", "skip"), made.reason
    assert re.match(r"not run: the server refused a reference to Odd/robot, which it does not hold and declares no "
                    r"create for \((400|422): error .*robot.*\)$", left_out.reason), left_out.reason


def test_an_unreachable_server_is_exit_2():
    done = conformance("http://127.0.0.1:9/fhir")
    assert done.returncode == 2 and "fhir-conformance:" in done.stderr
