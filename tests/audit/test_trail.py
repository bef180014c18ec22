"""The activity history over HTTP: every request leaves its AuditEvent, whatever patient id it names."""
from __future__ import annotations

import json
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
