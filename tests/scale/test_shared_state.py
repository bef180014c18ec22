"""What several processes share, at the level of the store: what one process's start-up or purge must leave
to the others (a node starting beside live nodes, a purge made by another node or by `retention run`)."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import bson
import pytest

from fhir_server.audit.chain import AuditChain
from fhir_server.storage.auth import PatientAccounts
from fhir_server.storage.readers import ServerLookup
from fhir_server.storage.resources import ResourceStore

LOOKUP = ServerLookup("tests")


@pytest.fixture()
def store(db):
    return ResourceStore(db)


def test_a_starting_node_leaves_the_journal_entries_of_live_writers_alone(store):
    """A node's start-up recovers what crashed writers left (entries older than a lease), not the entry of a
    write under way on another node: removing it would leave that write unprojected were its writer to crash."""
    live, crashed = uuid.uuid4().hex, uuid.uuid4().hex
    store.journal.insert_one({"type": "Patient", "rid": live})  # a write under way elsewhere: just made
    old = bson.ObjectId.from_datetime(datetime.now(timezone.utc) - timedelta(seconds=120))
    store.journal.insert_one({"_id": old, "type": "Patient", "rid": crashed})  # left by a crash 2 min ago
    assert store.recover(older_than=timedelta(seconds=60)) == 1
    assert store.journal.count_documents({"rid": live}) == 1 and store.journal.count_documents({"rid": crashed}) == 0
    assert store.recover() >= 1 and store.journal.count_documents({"rid": live}) == 0  # once old enough


def test_a_chain_purged_by_another_process_is_started_again_not_continued(db, audit_key):
    """Two writers (two nodes' audit writers) of one chain; the chain is purged through the second. The first
    still remembers the tail it wrote: its next event must start the chain again at 1."""
    here, elsewhere = AuditChain(db), AuditChain(db)
    key = uuid.uuid4().hex[:16]
    for _ in range(3):
        here.append(key, {"resourceType": "AuditEvent", "id": uuid.uuid4().hex})
    assert elsewhere.delete_key(key) == 3
    event = here.append(key, {"resourceType": "AuditEvent", "id": uuid.uuid4().hex})
    sequence = next(e for e in event["extension"][0]["extension"] if e["url"] == "sequence")
    assert sequence["valueInteger"] == 1
    assert here.link(key, 1)["event_id"] == event["id"] and here.link(key, 4) is None
    here.delete_key(key)  # its events were never stored: a chain `audit verify` would report (other tests run it)


def test_failed_attempts_racing_are_each_counted_and_a_purge_takes_them(db):
    """Ten wrong attempts at once (ten workers, on any nodes): each gets its own number, none is lost."""
    accounts = PatientAccounts(db)
    patient_id = uuid.uuid4().hex
    start = threading.Barrier(10)

    def attempt() -> int:
        start.wait()
        return accounts.count_failure(patient_id, PatientAccounts.FIRST_ROUND)
    with ThreadPoolExecutor(10) as pool:
        counts = sorted(pool.map(lambda _: attempt(), range(10)))
    assert counts == list(range(1, 11))
    accounts.lock(patient_id, datetime.now(timezone.utc) + timedelta(minutes=15), PatientAccounts.FIRST_ROUND)
    round_ = accounts.get(patient_id)["round"]
    assert round_ != PatientAccounts.FIRST_ROUND and accounts.count_failure(patient_id, round_) == 1  # anew
    assert db["patient_accounts"].count_documents({"account": patient_id}) == 1  # the old round's are gone
    accounts.delete(patient_id)
    assert db["patient_accounts"].count_documents({"$or": [{"_id": patient_id}, {"account": patient_id}]}) == 0
