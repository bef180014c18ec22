"""Every FHIR request needs an active access token whose SMART scopes allow it (api/guard.py)."""
from __future__ import annotations

import time
import uuid

import pytest
import requests

from fhir_server.auth.backend_client import ASSERTION_TYPE, register
from fhir_server.auth.clients import ClientRegistry

from tests.conftest import RECHECK_MARGIN, RECHECK_SECONDS

from ..api.client import HEADERS, INS, LOINC, JSON

PATIENT = {"resourceType": "Patient", "name": [{"family": "Guarded"}]}


@pytest.fixture(scope="module")
def reader(db, base):
    """Software allowed to read and search Patients only."""
    return register(db, base.removesuffix("/fhir"), "Patient reader", ["system/Patient.rs"])


def outcome(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


def test_no_token_or_a_bad_one_is_401_with_a_challenge(base):
    missing = requests.get(f"{base}/Patient", headers={"Accept": JSON})
    assert outcome(missing, 401)["issue"][0]["code"] == "login"
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="fhir"'
    forged = requests.get(f"{base}/Patient", headers={"Accept": JSON, "Authorization": "Bearer not.a.token"})
    outcome(forged, 401)
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]
    assert requests.get(f"{base}/metadata", headers={"Accept": JSON}).status_code == 200  # public


def test_scopes_allow_some_interactions_and_refuse_the_others(http, base, reader):
    created = http.post(f"{base}/Patient", json=PATIENT, headers=HEADERS).json()
    token = {**reader.headers("system/Patient.rs"), "Accept": JSON}
    assert requests.get(f"{base}/Patient/{created['id']}", headers=token).status_code == 200
    assert requests.get(f"{base}/Patient", params={"_id": created["id"]}, headers=token).json()["total"] == 1
    refusals = [
        requests.post(f"{base}/Patient", json=PATIENT, headers={**HEADERS, **token}),
        requests.put(f"{base}/Patient/{created['id']}", json=created, headers={**HEADERS, **token}),
        requests.delete(f"{base}/Patient/{created['id']}", headers=token),
        requests.get(f"{base}/DocumentReference", headers=token),
        requests.get(f"{base}/Binary/anything", headers=token),
    ]
    for response in refusals:
        assert outcome(response, 403)["issue"][0]["code"] == "forbidden"
    assert http.get(f"{base}/Patient/{created['id']}").json()["name"] == PATIENT["name"]  # nothing changed


def test_includes_and_everything_leave_out_what_the_token_cannot_read(http, base, reader):
    patient = http.post(f"{base}/Patient", json=PATIENT, headers=HEADERS).json()
    http.post(f"{base}/DocumentReference", headers=HEADERS, json={
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient['id']}"},
        "type": {"coding": [{"system": LOINC, "code": "11488-4"}]}, "content": [{"attachment": {"url": "x:y"}}]})
    token = {**reader.headers("system/Patient.rs"), "Accept": JSON}
    params = {"_id": patient["id"], "_revinclude": "DocumentReference:subject"}
    assert len(http.get(f"{base}/Patient", params=params).json()["entry"]) == 2
    restricted = requests.get(f"{base}/Patient", params=params, headers=token).json()
    assert [e["resource"]["resourceType"] for e in restricted["entry"]] == ["Patient"]
    everything = requests.get(f"{base}/Patient/{patient['id']}/$everything", headers=token).json()
    assert [e["resource"]["resourceType"] for e in everything["entry"]] == ["Patient"]


def test_bundle_entries_are_checked_one_by_one(base, reader):
    token = {**reader.headers("system/Patient.rs"), **HEADERS}
    nir = uuid.uuid4().hex[:13]
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Patient"}},
        {"request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient", "identifier": [{"system": INS, "value": nir}]}}]}
    refused = outcome(requests.post(base, json=transaction, headers=token), 403)
    assert "Bundle.entry[1]" in refused["issue"][0]["diagnostics"]
    batch = requests.post(base, json={**transaction, "type": "batch"}, headers=token).json()
    assert [e["response"]["status"] for e in batch["entry"]] == ["200 OK", "403"]


def refused_by_every_worker(base: str, headers: dict) -> None:
    """Several requests, each on a new connection (the server's two workers share them): all 401."""
    for _ in range(8):
        outcome(requests.get(f"{base}/Patient", params={"_count": 1}, headers=headers), 401)


def test_a_suspended_client_or_a_revoked_token_stops_within_the_recheck_bound(db, base):
    """The run's server rechecks revocations and clients' statuses every RECHECK_SECONDS (conftest.py): waited
    out, every request is refused, whichever worker took the revocation or none (a suspension)."""
    software = register(db, base.removesuffix("/fhir"), "Soon suspended", ["system/*.rs"])
    token = {**software.headers("system/*.rs"), "Accept": JSON}
    assert requests.get(f"{base}/Patient", params={"_count": 1}, headers=token).status_code == 200
    origin = base.removesuffix("/fhir")
    revoked = requests.post(f"{origin}/oauth/revoke", data={
        "token": token["Authorization"].split()[1], "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": software.assertion()})
    assert revoked.status_code == 200
    time.sleep(RECHECK_SECONDS + RECHECK_MARGIN)
    refused_by_every_worker(base, token)
    fresh = {**software.headers("system/Patient.rs"), "Accept": JSON}
    assert requests.get(f"{base}/Patient", params={"_count": 1}, headers=fresh).status_code == 200
    ClientRegistry(db).set_status(software.client_id, "suspended")
    time.sleep(RECHECK_SECONDS + RECHECK_MARGIN)
    refused_by_every_worker(base, fresh)


def test_chained_and_has_criteria_need_search_on_the_types_they_reach(base, db):
    software = register(db, base.removesuffix("/fhir"), "Document searcher", ["system/DocumentReference.rs"])
    token = {**software.headers("system/DocumentReference.rs"), "Accept": JSON}
    assert requests.get(f"{base}/DocumentReference", params={"status": "current", "_count": 1},
                        headers=token).status_code == 200
    chained = requests.get(f"{base}/DocumentReference", params={"subject:Patient.identifier": f"{INS}|1"},
                           headers=token)
    assert "Patient" in outcome(chained, 403)["issue"][0]["diagnostics"]
    both = register(db, base.removesuffix("/fhir"), "Patient and document searcher",
                    ["system/Patient.rs", "system/DocumentReference.rs"])
    token = {**both.headers("system/Patient.rs system/DocumentReference.rs"), "Accept": JSON}
    assert requests.get(f"{base}/Patient", params={"_has:DocumentReference:subject:status": "current",
                                                   "_count": 1}, headers=token).status_code == 200


def test_a_conditional_create_needs_search_too_and_a_records_decisions_are_its_owners(base, db, http):
    """If-None-Exist searches before it creates: `c` alone is not enough. Closing or deleting a record is its
    owner's decision: software with every scope is refused it."""
    creator = register(db, base.removesuffix("/fhir"), "Patient creator", ["system/Patient.c"])
    token = {**creator.headers("system/Patient.c"), "Accept": JSON, "Content-Type": HEADERS["Content-Type"]}
    assert requests.post(f"{base}/Patient", json=PATIENT, headers=token).status_code == 201
    conditional = requests.post(f"{base}/Patient", json=PATIENT,
                                headers={**token, "If-None-Exist": f"identifier={INS}|{uuid.uuid4().int % 10**13}"})
    outcome(conditional, 403)
    patient = http.post(f"{base}/Patient", json=PATIENT, headers=HEADERS).json()["id"]
    for operation in ("$close-record", "$delete-record"):
        refused = http.post(f"{base}/Patient/{patient}/{operation}", params={"confirm": "true"})
        assert "No access rule covers" in outcome(refused, 403)["issue"][0]["diagnostics"]
    assert http.get(f"{base}/Patient/{patient}", headers=HEADERS).status_code == 200
