"""The activity history over HTTP: every request leaves its AuditEvent, whatever patient id it names."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest

from fhir_server.storage.mongo import AUDIT_CHAIN
from fhir_server.audit.chain import AuditChain, carried, digest
from fhir_server.audit.events import Access, Actor
from fhir_server.service.audit import AuditTrail
from fhir_server.storage.resources import ResourceStore
from validation import validate_profile

from ..access.test_record_rules import AUDIT_PROFILE, professional
from ..api.client import HEADERS


@pytest.mark.parametrize("asked", ["x:y", '{"$gt":""}'])
def test_a_patient_id_that_is_not_an_id_is_audited_in_the_server_chain(base, db, asked):
    doctor = professional(db, base, "10")
    response = doctor.get(f"{base}/Patient", params={"_id": asked})
    assert response.status_code < 500, response.text
    if response.ok:
        assert response.json()["total"] == 0
    # The doctor's one request, found by their identifier: the query it made, and no Patient named by `asked`.
    [event] = [json.loads(d["json"]) for d in db["AuditEvent"].find({}) if doctor.rpps in d["json"]]
    entities = {e.get("description"): e.get("what", {}).get("reference") for e in event["entity"]}
    assert entities == {f"Patient?{urlsplit(response.request.url).query}": None}
    assert [i for i in validate_profile(event, AUDIT_PROFILE) if i.severity == "error"] == [], event
    assert_in_the_server_chain(db, event)


@pytest.mark.parametrize("asked", ["x:y", '{"$gt":""}'])
def test_a_patient_id_that_is_not_an_id_never_becomes_a_chain(db, asked):
    """Whatever a caller names, recording never fails: an id that is no FHIR id goes to the server's chain,
    kept as text."""
    doctor = Actor(kind="professional", client_id="vendor", practitioner="810000000099", profession="10",
                   address="192.0.2.1", purpose_of_use="TREAT")
    event = AuditTrail(ResourceStore(db)).record(
        Access("read", 404, datetime.now(timezone.utc), doctor, entities=[f"Patient/{asked}"]), asked)
    entities = {e.get("description") for e in event["entity"]}
    assert f"not a Patient id: {asked}" in entities
    assert [i for i in validate_profile(event, AUDIT_PROFILE) if i.severity == "error"] == [], event
    assert_in_the_server_chain(db, event)


def assert_in_the_server_chain(db, event: dict) -> None:
    """In the server's chain, keyed with the key `audit verify` reads, and checkpointed outside the database."""
    n, previous, link_hash = carried(event)
    link = db[AUDIT_CHAIN].find_one({"_id": f"-:{n:012d}"})
    assert (link["event_id"], link["previous"], link["hash"]) == (event["id"], previous, link_hash)
    chain = AuditChain(db)
    assert digest(chain.key, previous, event) == link_hash
    assert chain.checkpoints.read("-").chains["-"][n] == link_hash


def test_each_successful_read_vread_search_and_history_leaves_its_own_event(base, db, http, vendor):
    """One AuditEvent per request, with its own interaction, naming the calling software and what it touched:
    the access matrix's audit assertions can be met by other interactions' events, this test cannot."""
    family = f"Audited{uuid.uuid4().hex[:8]}"
    created = http.post(f"{base}/Patient", json={"resourceType": "Patient", "name": [{"family": family}]},
                        headers=HEADERS)
    assert created.status_code == 201, created.text
    patient = created.json()["id"]
    reference = f"Patient/{patient}"
    requests_made = {
        "read": f"{base}/Patient/{patient}",
        "vread": f"{base}/Patient/{patient}/_history/1",
        "search-type": f"{base}/Patient?family={family}",
        "history-instance": f"{base}/Patient/{patient}/_history",
    }
    for interaction, url in requests_made.items():
        before = set(_events_naming(db, reference))
        response = http.get(url, headers=HEADERS)
        assert response.status_code == 200, response.text
        new = [event for event_id, event in _events_naming(db, reference).items() if event_id not in before]
        assert len(new) == 1, (interaction, new)
        [event] = new
        assert [c["code"] for c in event["subtype"]] == [interaction]
        assert event["outcome"] == "0"
        assert vendor.client_id in [agent["who"].get("identifier", {}).get("value") for agent in event["agent"]]
        assert reference in [entity.get("what", {}).get("reference", "").split("/_history")[0]
                             for entity in event["entity"]]


def _events_naming(db, reference: str) -> dict[str, dict]:
    """The AuditEvents (by id) of the patient `reference` names (the audit trail's `patient` search values)."""
    events = (json.loads(d["json"]) for d in db["AuditEvent"].find({"r:patient": reference}, {"json": 1}))
    return {e["id"]: e for e in events}


def _new_events(db, before: set[str]) -> list[dict]:
    return [json.loads(d["json"]) for d in db["AuditEvent"].find({"_id": {"$nin": list(before)}}, {"json": 1})]


def _event_ids(db) -> set[str]:
    return {d["_id"] for d in db["AuditEvent"].find({}, {"_id": 1})}


def test_a_search_posted_as_a_form_is_audited_with_its_body_parameters(base, db, http):
    family = f"Posted{uuid.uuid4().hex[:8]}"
    before = _event_ids(db)
    response = http.post(f"{base}/Patient/_search", data=[("family", family), ("family", "Posted")],
                         headers={"Accept": HEADERS["Accept"]})  # a parameter repeated: both ANDed, both audited
    assert response.status_code == 200, response.text
    [event] = _new_events(db, before)
    assert [c["code"] for c in event["subtype"]] == ["search-type"]
    assert f"Patient?family={family}&family=Posted" in [e.get("description") for e in event["entity"]]


def test_a_request_touching_two_records_tells_each_patient_only_of_their_own(base, db, http):
    """A batch reading one document of each of two records: each patient's AuditEvent names that patient's
    document only (naming the other's would tell one patient of another's record)."""
    doctor = professional(db, base, "10")
    documents = {}
    for _ in range(2):
        patient = http.post(f"{base}/Patient", json={"resourceType": "Patient"}, headers=HEADERS).json()["id"]
        created = doctor.post(f"{base}/DocumentReference", headers=HEADERS, json={
            "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient}"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]})
        assert created.status_code == 201, created.text
        documents[patient] = created.json()["id"]
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"DocumentReference/{document_id}"}} for document_id in documents.values()]}
    before = _event_ids(db)
    response = doctor.post(base, json=batch, headers=HEADERS)
    assert [e["response"]["status"][:3] for e in response.json()["entry"]] == ["200", "200"], response.text
    for patient, document_id in documents.items():
        [event] = [e for e in _new_events(db, before) if f"Patient/{patient}" in json.dumps(e["entity"])]
        named = {e["what"]["reference"].split("/_history")[0] for e in event["entity"] if "what" in e}
        assert f"DocumentReference/{document_id}" in named
        assert not any(other in ref for ref in named for other in documents.values() if other != document_id)


def test_a_refused_read_is_audited_naming_what_was_asked_and_why(base, db):
    doctor = professional(db, base, "10")
    missing = uuid.uuid4().hex
    before = _event_ids(db)
    response = doctor.get(f"{base}/DocumentReference/{missing}", headers=HEADERS)
    assert response.status_code == 404
    [event] = _new_events(db, before)
    assert event["outcome"] == "4"
    assert [e["what"]["reference"] for e in event["entity"] if "what" in e] == [f"DocumentReference/{missing}"]
    assert event["outcomeDesc"] == "; ".join(i["diagnostics"] for i in response.json()["issue"])


def test_what_is_in_no_record_is_audited_in_the_servers_chain_beside_the_records(base, db, http):
    """A batch reading a patient and a Binary kept with no record: the patient's event names the patient only,
    the server's chain names the Binary only; a vread names the version it read."""
    patient = http.post(f"{base}/Patient", json={"resourceType": "Patient"}, headers=HEADERS).json()["id"]
    binary = http.post(f"{base}/Binary", data=b"x", headers={"Content-Type": "text/plain"}).json()["id"]
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Patient/{patient}/_history/1"}},
        {"request": {"method": "GET", "url": f"Binary/{binary}"}}]}
    before = _event_ids(db)
    response = http.post(base, json=batch, headers=HEADERS)
    assert [e["response"]["status"][:3] for e in response.json()["entry"]] == ["200", "200"], response.text
    named = {}
    for event in _new_events(db, before):
        chain = "server" if f"Patient/{patient}" not in json.dumps(event) else "patient"
        named[chain] = sorted(e["what"]["reference"] for e in event["entity"] if "what" in e)
    assert named == {"patient": [f"Patient/{patient}"], "server": [f"Binary/{binary}"]}

