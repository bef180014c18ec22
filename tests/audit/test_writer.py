"""The server's audit writer: workers hand it their events over a Unix socket; without it they write them."""
from __future__ import annotations

import secrets
import threading
import uuid
from datetime import datetime, timezone

from fhir_server.audit.chain import carried
from fhir_server.audit.events import Access, Actor
from fhir_server.audit.verify import verify
from fhir_server.service.audit import VERIFY, AuditTrail
from fhir_server.service.audit_writer import serve_forever
from fhir_server.storage.resources import ResourceStore

DOCTOR = Actor(kind="professional", client_id="vendor", practitioner="810000000099", profession="10",
               address="192.0.2.1", purpose_of_use="TREAT")


def access(patient: str) -> Access:
    return Access("read", 200, datetime.now(timezone.utc), DOCTOR, entities=[f"Patient/{patient}"])


def start_writer(db, tmp_path) -> tuple[tuple[str, bytes], list[int]]:
    """A writer on a socket in tmp_path, as `serve` starts one; also the sizes of the groups it committed."""
    writer_trail = AuditTrail(ResourceStore(db))
    groups: list[int] = []
    commit = writer_trail._commit

    def counted(batch):
        groups.append(len(batch))
        return commit(batch)
    writer_trail.group._commit = counted
    address, key, ready = str(tmp_path / "writer.sock"), secrets.token_bytes(32), threading.Event()
    threading.Thread(target=serve_forever, args=(writer_trail.commit_all, writer_trail.chain.delete_key, address, key,
                                                 ready), daemon=True).start()
    assert ready.wait(10)
    return (address, key), groups


def test_workers_events_are_committed_together_by_the_writer(db, tmp_path):
    writer, groups = start_writer(db, tmp_path)
    workers = [AuditTrail(ResourceStore(db), writer=writer) for _ in range(2)]  # two gunicorn workers
    patient = uuid.uuid4().hex
    recorded: list[dict] = []

    def work(n: int) -> None:
        for _ in range(5):
            recorded.append(workers[n % 2].record(access(patient), patient))
    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(carried(event)[0] for event in recorded) == list(range(1, 41))
    assert sum(groups) == 40 and len(groups) < 40  # all through the writer, several per group
    store = ResourceStore(db)
    assert all(store.current("AuditEvent", e["id"], reader=VERIFY) is not None for e in recorded)
    report = verify(workers[0].chain, workers[0].read_event, patient)
    assert (report.intact, report.events) == (True, 40)


def test_without_the_writer_or_its_key_a_worker_writes_its_events_itself(db, tmp_path):
    (address, _), groups = start_writer(db, tmp_path)
    patient = uuid.uuid4().hex
    for writer in [(address, secrets.token_bytes(32)), (str(tmp_path / "none.sock"), secrets.token_bytes(32))]:
        event = AuditTrail(ResourceStore(db), writer=writer).record(access(patient), patient)
        assert ResourceStore(db).current("AuditEvent", event["id"], reader=VERIFY) is not None
    assert groups == []  # the writer refused the connection without the key
    trail = AuditTrail(ResourceStore(db))
    assert verify(trail.chain, trail.read_event, patient).intact


def test_a_chain_purged_through_the_writer_starts_again_from_its_first_link(db, tmp_path):
    """The writer remembers the chain's tail: deleting the chain through it makes it forget, so the next event
    of that patient is link 1 of a new chain, not a link after deleted ones."""
    writer, _ = start_writer(db, tmp_path)
    worker = AuditTrail(ResourceStore(db), writer=writer)
    patient = uuid.uuid4().hex
    for _ in range(3):
        worker.record(access(patient), patient)
    assert worker.delete_chain(patient) == 3
    again = worker.record(access(patient), patient)
    assert carried(again)[0] == 1
    report = verify(worker.chain, worker.read_event, patient)
    assert (report.intact, report.events) == (True, 1)
