"""Transactions: every write or none, whatever point a crash stops them at (storage/transactions.py).

A crash is simulated by doing a transaction's first steps by hand and then running what a restarted server
runs: `sweep()`. The kill of a real server mid-transaction is in tests/api/test_transaction_crash.py.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from fhir_server.registry import RESOURCES
from fhir_server.search import INDEXES
from fhir_server.storage.mongo import ensure_indexes
from fhir_server.storage.resources import ResourceStore, VersionConflict
from fhir_server.storage.transactions import TransactionAborted, Transactions, Write
from fhir_server.storage.readers import ServerLookup

LOOKUP = ServerLookup("the test's own check")


@pytest.fixture()
def store(db):
    ensure_indexes(db, list(RESOURCES), INDEXES)
    return ResourceStore(db)


def patient(family: str) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family}]}


def writes(store: ResourceStore, count: int) -> list[Write]:
    """`count` writes: an update of a Patient that exists, then new Patients."""
    existing = store.write("Patient", uuid.uuid4().hex, patient("Before"), 0, "POST")
    new = [Write("Patient", uuid.uuid4().hex, patient(f"New{n}"), 0, "POST") for n in range(count - 1)]
    return [Write("Patient", existing.id, patient("After"), 1, "PUT"), *new]


def visible(store: ResourceStore, plan: list[Write]) -> list[bool]:
    return [bool((c := store.current(w.type, w.id, reader=LOOKUP)) and not c.deleted and c.version > w.previous) for w in plan]


def crash_after_reserving(store: ResourceStore, plan: list[Write], reserved: int, lease: float) -> str:
    """Steps 1 and 2 for the first `reserved` writes, as a process killed then leaves them."""
    tx = uuid.uuid4().hex
    store.transactions.collection.insert_one({
        "_id": tx, "plan": [{"t": w.type, "i": w.id, "p": w.previous} for w in plan],
        "expires": datetime.now(timezone.utc) + timedelta(seconds=lease)})
    for write in plan[:reserved]:
        store.reserve(write, tx)
    return tx


def test_a_transaction_writes_everything(store):
    plan = writes(store, 5)
    versions = Transactions(store, lease_seconds=30).write_all(plan)
    assert [v.id for v in versions] == [w.id for w in plan]
    assert all(visible(store, plan))
    assert store.current("Patient", plan[0].id, reader=LOOKUP).resource["name"][0]["family"] == "After"
    marked = [store.history.find_one({"_id": f"Patient/{v.id}/{v.version}"}) for v in versions]
    assert not [d for d in marked if "tx" in d]
    assert store.transactions.collection.count_documents({}) == 0


def test_a_crash_before_the_commit_point_leaves_nothing(store):
    plan = writes(store, 4)
    tx = crash_after_reserving(store, plan, reserved=3, lease=30)
    # Before any sweep, readers see nothing of it: reads, versions, history, searches.
    assert visible(store, plan) == [False] * 4
    assert store.version("Patient", plan[1].id, 1, reader=LOOKUP) is None
    assert store.version("Patient", plan[0].id, 2, reader=LOOKUP) is None
    assert store.history_page("Patient", plan[0].id, None, datetime.now(timezone.utc), 0, 10, reader=LOOKUP)[1] == 1
    assert store.search_ids("Patient", {"_id": plan[1].id, "deleted": False}, [], 10, True, reader=LOOKUP) == ([], 0)
    # A write of a reserved resource is a conflict while the transaction holds it.
    with pytest.raises(VersionConflict):
        store.write("Patient", plan[0].id, patient("Other"), 1, "PUT")
    sweeper = Transactions(store, lease_seconds=30)
    assert sweeper.sweep() == 0  # its lease still runs: the writer may be alive
    store.transactions.collection.update_one({"_id": tx}, {"$set": {"expires": datetime.now(timezone.utc)}})
    assert sweeper.sweep() == 1
    assert visible(store, plan) == [False] * 4
    assert store.transactions.collection.count_documents({}) == 0
    voided = store.history.find_one({"_id": f"Patient/{plan[0].id}/2"})
    assert voided["void"] is True and voided["json"] is None
    # The voided version number is skipped: the next write is version 3.
    after = store.write("Patient", plan[0].id, patient("Later"), 1, "PUT")
    assert after.version == 3 and store.current("Patient", plan[0].id, reader=LOOKUP).version == 3
    versions = store.history_page("Patient", plan[0].id, None, datetime.now(timezone.utc), 0, 10, reader=LOOKUP)[0]
    assert [v.version for v in versions] == [3, 1]


def test_a_crash_after_the_commit_point_completes_everything(store):
    plan = writes(store, 4)
    tx = crash_after_reserving(store, plan, reserved=4, lease=30)
    assert store.transactions.decide(tx, "commit") == "commit"
    # Committed: versions are readable already; the current documents follow at the sweep.
    assert store.version("Patient", plan[1].id, 1, reader=LOOKUP) is not None
    assert Transactions(store, lease_seconds=30).sweep() == 1
    assert all(visible(store, plan))
    assert store.transactions.collection.count_documents({}) == 0


def test_a_writer_whose_lease_ran_out_fails_and_leaves_nothing(store, monkeypatch):
    plan = writes(store, 3)
    transactions = Transactions(store, lease_seconds=30)
    reserve_all = store.reserve_all

    def slow_reserve_all(batch: list[Write], tx: str | None = None):
        reserved = reserve_all(batch, tx)
        store.transactions.decide(tx, "abort")  # a sweeper aborts the transaction while the writer is busy
        return reserved
    monkeypatch.setattr(store, "reserve_all", slow_reserve_all)
    with pytest.raises(TransactionAborted):
        transactions.write_all(plan)
    assert visible(store, plan) == [False] * 3
    assert store.transactions.collection.count_documents({}) == 0


def test_a_conflict_on_one_write_aborts_them_all(store):
    plan = writes(store, 3)
    plan = [*plan[1:], plan[0]]  # the conflicting write last, after the others were reserved
    store.write("Patient", plan[-1].id, patient("Concurrent"), 1, "PUT")  # version 2 is taken
    with pytest.raises(VersionConflict):
        Transactions(store, lease_seconds=30).write_all(plan)
    assert visible(store, plan)[:2] == [False, False]
    assert store.current("Patient", plan[-1].id, reader=LOOKUP).resource["name"][0]["family"] == "Concurrent"
    assert store.transactions.collection.count_documents({}) == 0
