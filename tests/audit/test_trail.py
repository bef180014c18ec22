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
