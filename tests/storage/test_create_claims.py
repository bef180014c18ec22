"""A conditional create's claim on its criteria (service/resources.py `if_none_exist`), met by a second create
at each moment of the first one's write: the second answers the first as its match, waits for it, or takes the
criteria over only when the first holds them no more."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from fhir_server.errors import Conflict
from fhir_server.service import resources as resources_module
from fhir_server.storage.claims import LEASE
from fhir_server.storage.resources import ResourceStore

from .test_postings import server_service

SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"


def criteria_and_patient() -> tuple[str, dict]:
    value = uuid.uuid4().hex[:13]
    return (f"identifier={SYSTEM}|{value}",
            {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": value}]})


def test_a_holder_stored_while_it_is_checked_is_the_match(store: ResourceStore, monkeypatch):
    """The first create is stored between the second's reads of its claim: the second answers it. (Reading
    whether the holder matches before whether it is stored made it look changed: its claim was taken over
    and the patient created twice, now and then, under load.)"""
    criteria, patient = criteria_and_patient()
    with server_service(store) as service:
        first = service.plan_create("Patient", patient, criteria)
        holder, read_current = first.write.id, store.current

        def current(resource_type: str, resource_id: str, *, reader):
            if resource_id == holder and not store.taken("Patient", holder):
                service.commit(first)  # the first writer's store lands now
            return read_current(resource_type, resource_id, reader=reader)

        monkeypatch.setattr(store, "current", current)
        second = service.create("Patient", patient, criteria)
    assert (second.created, second.changed, second.version.id) == (False, False, holder)


def test_a_claim_left_by_a_write_never_done_is_waited_for_then_taken_over(store: ResourceStore, db, monkeypatch):
    """A claim whose holder is not stored (its writer died, or is still writing) holds the criteria for the
    lease: a create meanwhile is told to send again (409); after it, the criteria are taken over."""
    monkeypatch.setattr(resources_module, "CREATE_WAIT", 0.2)
    criteria, patient = criteria_and_patient()
    with server_service(store) as service:
        left = service.plan_create("Patient", patient, criteria)  # claimed, then its writer died
        claim = {"holder": f"Patient/{left.write.id}"}
        with pytest.raises(Conflict):
            service.create("Patient", patient, criteria)
        expired = datetime.now(timezone.utc) - LEASE - timedelta(seconds=1)
        db["create_claims"].update_one(claim, {"$set": {"at": expired}})
        made = service.create("Patient", patient, criteria)
    assert made.created and made.version.id != left.write.id
    assert db["create_claims"].count_documents(claim) == 0
    assert db["create_claims"].count_documents({"holder": f"Patient/{made.version.id}"}) == 1


def test_a_patient_stored_just_after_the_callers_search_is_the_match(store: ResourceStore, monkeypatch):
    """The first create is stored between the second's search and its check for a Patient it may not see:
    one it may see is its match. (It was refused 403 as a hidden patient, now and then, under load.)"""
    criteria, patient = criteria_and_patient()
    with server_service(store) as service:
        first = service.plan_create("Patient", patient, criteria)
        searched = resources_module.matching

        def matching(store: ResourceStore, reader, resource_type: str, criteria: str, limit: int) -> list:
            found = searched(store, reader, resource_type, criteria, limit)
            if not store.taken("Patient", first.write.id):
                service.commit(first)  # the first writer's store lands now
            return found

        monkeypatch.setattr(resources_module, "matching", matching)
        second = service.create("Patient", patient, criteria)
    assert (second.created, second.version.id) == (False, first.write.id)
