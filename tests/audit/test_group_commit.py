"""Group commit of the audit trail: concurrent requests' events written together, none lost, chains intact."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone

import pymongo

from fhir_server.audit.chain import AuditChain, carried
from fhir_server.audit.events import Access, Actor
from fhir_server.audit.verify import verify
from fhir_server.service.audit import VERIFY, AuditTrail
from fhir_server.service.group_commit import GroupCommit
from fhir_server.storage.resources import ResourceStore

DOCTOR = Actor(kind="professional", client_id="vendor", practitioner="810000000099", profession="10",
               address="192.0.2.1", purpose_of_use="TREAT")


def test_writes_queued_during_a_commit_go_together_in_the_next_one():
    first_running, queued = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def commit(items: list[int]) -> list[int]:
        batches.append(items)
        if items == [0]:  # hold the first commit until the others are queued behind it
            first_running.set()
            assert queued.wait(10)
        return [item * 10 for item in items]
    group = GroupCommit(commit)
    results: dict[int, int] = {}
    first = threading.Thread(target=lambda: results.setdefault(0, group.submit(0)))
    first.start()
    assert first_running.wait(10)
    others = [threading.Thread(target=lambda i=i: results.setdefault(i, group.submit(i))) for i in range(1, 6)]
    for thread in others:
        thread.start()
    while len(group._queue) < 5:  # all five waiting behind the first commit
        threading.Event().wait(0.01)
    queued.set()
    for thread in [first, *others]:
        thread.join(10)
    assert results == {i: i * 10 for i in range(6)}
    assert batches[0] == [0] and sorted(batches[1]) == [1, 2, 3, 4, 5] and len(batches) == 2


def test_a_failed_commit_fails_every_write_of_its_batch_and_no_other():
    def commit(items: list[str]) -> list[str]:
        if "bad" in items:
            raise pymongo.errors.AutoReconnect("database gone")
        return items
    group = GroupCommit(commit)
    try:
        group.submit("bad")
    except pymongo.errors.AutoReconnect as error:
        assert "database gone" in str(error)
    else:
        raise AssertionError("the failed commit did not raise")
    assert group.submit("good") == "good"


def test_concurrent_events_of_two_writers_are_all_stored_and_chained(database):
    """Two trails on two connections stand for two server processes: each remembers chain tails the other
    moves past. Every event is stored, checkpointed, and each chain stays one unbroken sequence (that events
    arriving together are committed together: the test above)."""
    uri, name = database
    clients = [pymongo.MongoClient(uri, tz_aware=True) for _ in range(2)]
    try:
        trails = [AuditTrail(ResourceStore(client[name])) for client in clients]
        patients = [uuid.uuid4().hex for _ in range(3)]
        recorded: list[dict] = []
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            try:
                for n in range(12):
                    patient = patients[(worker + n) % len(patients)]
                    access = Access("read", 200, datetime.now(timezone.utc), DOCTOR,
                                    entities=[f"Patient/{patient}"])
                    recorded.append(trails[worker % 2].record(access, patient))
            except BaseException as error:  # reported by the test thread
                errors.append(error)
        threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(recorded) == 96
        store = trails[0].store
        for event in recorded:
            assert store.current("AuditEvent", event["id"], reader=VERIFY).resource["extension"] == event["extension"]
        chain = AuditChain(clients[0][name])
        for patient in patients:
            sequence = sorted(carried(e)[0] for e in recorded if carried(e) and
                              any(x.get("what", {}).get("reference") == f"Patient/{patient}" for x in e["entity"]))
            assert sequence == list(range(1, 33))
            report = verify(chain, trails[0].read_event, patient)
            assert (report.intact, report.events, report.pending, report.unfinished) == (True, 32, [], [])
            assert len(chain.checkpoints.read(patient).chains[patient]) == 32
    finally:
        for client in clients:
            client.close()


def test_a_requests_writes_go_in_one_batch():
    batches: list[list[str]] = []

    def commit(items: list[str]) -> list[str]:
        batches.append(items)
        return [item.upper() for item in items]
    group = GroupCommit(commit)
    assert group.submit_all(["a", "b", "c"]) == ["A", "B", "C"]
    assert batches == [["a", "b", "c"]]
