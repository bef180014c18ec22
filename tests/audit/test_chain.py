"""The audit hash chain (FerretDB): keyed links in sequence, tampering found at the first broken link, concurrent
writers that never fork a chain, and a hot path that reads by `_id` only. Checkpoints, crash tails and legacy
chains: test_checkpoints.py."""
from __future__ import annotations

import hashlib
import hmac
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pymongo
import pytest
from pymongo import monitoring

from fhir_server.storage.mongo import AUDIT_CHAIN
from fhir_server.audit.chain import CHAIN_EXTENSION, GENESIS, AuditChain, content
from fhir_server.audit.verify import verify, verify_command
from fhir_server.audit.events import Access, Actor, audit_event
from validation import validate_resource

from .conftest import EventStore

DOCTOR = Actor(kind="professional", client_id="vendor-1", practitioner="810001234567", profession="10",
               address="192.0.2.10", purpose_of_use="TREAT")


def new_event(patient: str | None, n: int = 0) -> dict:
    access = Access("read", 200, datetime.now(timezone.utc), DOCTOR, patient=patient,
                    entities=[f"DocumentReference/d{n}"])
    return audit_event(access, uuid.uuid4().hex, "https://dmp.example.org/fhir")


def chained(chain: AuditChain, store: EventStore, key: str, count: int) -> list[dict]:
    """`count` events appended to chain `key`, stored and checkpointed, in order."""
    events = []
    for n in range(count):
        event = chain.append(key, new_event(key, n))
        store.persist(event)
        chain.confirm(key, event)
        events.append(event)
    return events


def carried(event: dict) -> dict:
    [extension] = [e for e in event["extension"] if e["url"] == CHAIN_EXTENSION]
    return {e["url"]: e.get("valueInteger", e.get("valueString")) for e in extension["extension"]}


def test_links_follow_in_sequence(chain, store, db, capsys):
    key = uuid.uuid4().hex
    events = chained(chain, store, key, 5)
    previous = GENESIS
    for n, event in enumerate(events, 1):
        assert [issue for issue in validate_resource(event, "AuditEvent") if issue.severity == "error"] == []
        values = carried(event)
        assert values["sequence"] == n and values["previous"] == previous
        keyed = hmac.new(chain.key.secret, (previous + content(event)).encode(), hashlib.sha256).hexdigest()
        assert values["hash"] == keyed != hashlib.sha256((previous + content(event)).encode()).hexdigest()
        link = db[AUDIT_CHAIN].find_one({"_id": f"{key}:{n:012d}"})
        assert (link["key"], link["n"], link["event_id"], link["hash"], link["previous"], link["mac"]) == (
            key, n, event["id"], values["hash"], previous, "hmac-sha256")
        previous = values["hash"]
    assert db[AUDIT_CHAIN].find_one({"_id": f"{key}:head"})["last"] == 5
    assert chain.checkpoints.read(key).chains[key] == {n: carried(e)["hash"] for n, e in enumerate(events, 1)}
    report = verify(chain, store.read, key)
    assert (report.intact, report.chains, report.events, report.pending, report.legacy) == (True, 1, 5, [], 0)
    assert verify_command(chain, store.read, key) == 0
    assert capsys.readouterr().out == "1 chains, 5 events: intact\n"


def test_the_hash_ignores_meta_and_the_chain_extension_but_not_other_extensions():
    event = new_event("p1")
    other = {"url": "https://example.org/x", "valueString": "y"}
    assert content({**event, "meta": {"versionId": "3"}}) == content(event)
    assert content({**event, "extension": [{"url": CHAIN_EXTENSION, "extension": [
        {"url": "hash", "valueString": "0"}]}]}) == content(event)
    assert content({**event, "extension": [other]}) != content(event)


def test_the_hashed_content_is_the_documented_canonical_json():
    """What an outside verifier recomputes (README, threat model): keys sorted, no whitespace, characters as they
    are in UTF-8 (not \\u escapes), without meta and the chain extension."""
    event = {"resourceType": "AuditEvent", "meta": {"versionId": "1"}, "id": "e1",
             "agent": [{"name": "Hélène Lefèvre", "requestor": True}],
             "extension": [{"url": CHAIN_EXTENSION, "valueString": "x"}]}
    assert content(event) == '{"agent":[{"name":"Hélène Lefèvre","requestor":true}],"id":"e1","resourceType":"AuditEvent"}'


def test_events_without_a_patient_go_to_the_server_chain(chain, store, db):
    event = chain.append("-", new_event(None))
    store.persist(event)
    link = db[AUDIT_CHAIN].find_one({"_id": f"-:{carried(event)['sequence']:012d}"})
    assert link["event_id"] == event["id"]


@pytest.mark.parametrize("tamper, reason", [
    ("edit-event", "changed"),
    ("delete-event", "missing"),
    ("edit-link-hash", "hash"),
    ("edit-link-previous", "previous"),
    ("edit-extension", "extension"),
    ("delete-link", "gap"),
])
def test_tampering_is_found_at_the_first_broken_link(chain, store, db, tamper, reason):
    key = uuid.uuid4().hex
    events = chained(chain, store, key, 5)
    links = db[AUDIT_CHAIN]
    old = datetime.now(timezone.utc) - timedelta(minutes=5)
    links.update_many({"key": key}, {"$set": {"at": old}})  # past the grace period
    target = events[2]  # sequence 3
    link_id = f"{key}:{3:012d}"
    if tamper == "edit-event":
        store.events[target["id"]]["outcome"] = "4"
    elif tamper == "delete-event":
        del store.events[target["id"]]
    elif tamper == "edit-link-hash":
        links.update_one({"_id": link_id}, {"$set": {"hash": "f" * 64}})
    elif tamper == "edit-link-previous":
        links.update_one({"_id": link_id}, {"$set": {"previous": "e" * 64}})
    elif tamper == "edit-extension":
        store.events[target["id"]]["extension"][0]["extension"][0]["valueInteger"] = 9
    else:
        links.delete_one({"_id": link_id})
    store.events[events[3]["id"]]["outcome"] = "8"  # a later break is not reported: the first one is
    report = verify(chain, store.read, key)
    [problem] = report.broken
    assert (problem.key, problem.sequence, problem.reason) == (key, 3, reason)
    assert problem.event_id == (None if reason == "gap" else target["id"])


def test_removing_the_last_links_is_found(chain, store, db):
    key = uuid.uuid4().hex
    chained(chain, store, key, 4)
    db[AUDIT_CHAIN].delete_many({"_id": {"$in": [f"{key}:{3:012d}", f"{key}:{4:012d}"]}})
    [problem] = verify(chain, store.read, key).broken
    assert (problem.sequence, problem.reason) == (3, "gap")


def test_an_event_being_stored_is_pending(chain, store, db, capsys):
    key = uuid.uuid4().hex
    chained(chain, store, key, 2)
    unstored = chain.append(key, new_event(key))  # its writer has not stored it yet
    chained(chain, store, key, 1)
    report = verify(chain, store.read, key)
    assert report.intact and report.events == 4
    assert [(p.sequence, p.event_id, p.reason) for p in report.pending] == [(3, unstored["id"], "pending")]
    assert verify_command(chain, store.read, key) == 0
    assert capsys.readouterr().out == "1 chains, 4 events: intact (1 not stored yet)\n"


def test_concurrent_writers_never_fork_a_chain(chain, store):
    key = uuid.uuid4().hex
    errors: list[BaseException] = []

    def write() -> None:
        try:
            chained(chain, store, key, 10)
        except BaseException as error:  # reported by the test thread
            errors.append(error)
    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sequences = sorted(carried(event)["sequence"] for event in store.events.values())
    assert sequences == list(range(1, 81))
    report = verify(chain, store.read, key)
    assert (report.intact, report.events, report.pending) == (True, 80, [])


def test_verify_every_chain(chain, store, db, capsys):
    intact, broken = uuid.uuid4().hex, uuid.uuid4().hex
    chained(chain, store, intact, 2)
    events = chained(chain, store, broken, 2)
    store.events[events[0]["id"]]["action"] = "D"
    report = verify(chain, store.read)
    assert [(p.sequence, p.reason) for p in report.broken if p.key == broken] == [(1, "changed")]
    assert not [p for p in report.broken if p.key == intact]
    assert report.chains >= 2 and report.events >= 4
    assert verify_command(chain, store.read, None) == 1
    assert f"chain {broken} #1 AuditEvent/{events[0]['id']}: event content changed\n" in capsys.readouterr().out


def test_delete_key(chain, store, db):
    key = uuid.uuid4().hex
    chained(chain, store, key, 3)
    assert chain.delete_key(key) == 3
    assert db[AUDIT_CHAIN].count_documents({"key": key}) == 0
    report = verify(chain, store.read, key)  # the purge voided the chain's checkpoints
    assert (report.intact, report.chains, report.events) == (True, 0, 0)
    [event] = chained(chain, store, key, 1)
    assert carried(event)["sequence"] == 1  # a new chain starts afresh, held to its own checkpoints only
    report = verify(chain, store.read, key)
    assert (report.intact, report.chains, report.events) == (True, 1, 1)
    assert chain.delete_key(uuid.uuid4().hex) == 0


@pytest.mark.parametrize("key", ["a:000000000001", "", '{"$gt":""}', "x" * 65])
def test_a_key_is_a_fhir_id(chain, key):
    with pytest.raises(ValueError):
        chain.append(key, new_event(None))


class Recorder(monitoring.CommandListener):
    def __init__(self) -> None:
        self.filters: list[dict] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.filters.append(event.command["filter"])
        elif event.command_name in ("update", "delete"):
            self.filters += [statement["q"] for statement in event.command[f"{event.command_name}s"]]

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def test_appending_reads_and_writes_by_id_only(database, store):
    """FerretDB hands SQLite a lone `{_id: <string>}` filter only; anything else would scan the collection."""
    recorder = Recorder()
    uri, name = database
    client = pymongo.MongoClient(uri, tz_aware=True, event_listeners=[recorder])
    try:
        watched = AuditChain(client[name])
        key = uuid.uuid4().hex
        chained(watched, store, key, 3)
        stale = AuditChain(client[name])
        client[name][AUDIT_CHAIN].update_one({"_id": f"{key}:head"}, {"$set": {"last": 1}})  # a lagging hint
        stale.append(key, new_event(key))
        assert recorder.filters
        for query in recorder.filters:
            assert list(query) == ["_id"] and isinstance(query["_id"], str)
    finally:
        client.close()


def test_one_group_with_several_events_of_a_chain_links_them_in_order(chain, store):
    """A group commit holding three events of one patient and one of another: one link each, in the order
    given, never two on the same position."""
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    items = [(first, new_event(first, 0)), (second, new_event(second, 0)), (first, new_event(first, 1)),
             (first, new_event(first, 2))]
    events = chain.append_all(items)
    for (key, _), event in zip(items, events):
        store.persist(event)
        chain.confirm(key, event)
    assert [carried(e)["sequence"] for e in events] == [1, 1, 2, 3]
    assert carried(events[2])["previous"] == carried(events[0])["hash"]
    assert carried(events[3])["previous"] == carried(events[2])["hash"]
    assert all(verify(chain, store.read, key).intact for key in (first, second))


class FindCounter(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.finds = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.finds += event.command_name == "find"


def _reads_of(database, act) -> int:
    """How many `find` commands `act(chain)` sends, given a chain on a client of its own."""
    counter = FindCounter()
    uri, name = database
    client = pymongo.MongoClient(uri, tz_aware=True, event_listeners=[counter])
    try:
        act(AuditChain(client[name]))
        return counter.finds
    finally:
        client.close()


def test_a_writer_reads_a_few_links_not_the_whole_chain(database, chain, store):
    """A new writer starts from the head's hint; one that lost a race reads on from where it was: a chain of 30
    links is never read from its start."""
    key = uuid.uuid4().hex
    chained(chain, store, key, 30)
    assert _reads_of(database, lambda fresh: fresh.append(key, new_event(key))) <= 3  # the hint and its link

    def lose_a_race(writer: AuditChain) -> None:
        writer.append(key, new_event(key))  # link 32: the writer remembers it as the tail
        chain.append(key, new_event(key))  # another writer takes 33
        assert carried(writer.append(key, new_event(key)))["sequence"] == 34  # after reading on from 32

    assert _reads_of(database, lose_a_race) <= 10


def test_a_chain_deleted_while_its_tail_is_read_starts_again(chain, store, db):
    """The head still hints at link 3 but the links are gone (a purge between the two reads): the next event
    is link 1 of a new chain, after the genesis hash, not link 4 after nothing."""
    key = uuid.uuid4().hex
    chained(chain, store, key, 3)
    db[AUDIT_CHAIN].delete_many({"key": key, "n": {"$exists": True}})  # the links, not the head
    assert db[AUDIT_CHAIN].find_one({"_id": f"{key}:head"}) is not None
    event = AuditChain(db).append(key, new_event(key))
    assert carried(event)["sequence"] == 1 and carried(event)["previous"] == GENESIS


def test_a_writer_that_remembers_its_tail_confirms_it_with_one_read(database, chain, store):
    key = uuid.uuid4().hex
    chained(chain, store, key, 3)

    def append_twice(writer: AuditChain) -> None:
        writer.append(key, new_event(key))
        writer.append(key, new_event(key))

    once = _reads_of(database, lambda writer: writer.append(key, new_event(key)))  # the hint and its link
    assert _reads_of(database, append_twice) == once + 1  # the second append: its remembered link, read once


def test_a_chain_purged_and_restarted_elsewhere_is_not_continued_from_a_remembered_tail(chain, store, db):
    """Writer A remembers link 2 of a chain that is then purged and written again to link 2 by writer B: the
    link at 2 is B's (another hash), so A chains after B's, not after its own remembered one."""
    key = uuid.uuid4().hex
    writer = AuditChain(db)
    writer.append(key, new_event(key))
    writer.append(key, new_event(key))
    chain.delete_key(key)
    restarted = [chain.append(key, new_event(key)) for _ in range(2)]
    event = writer.append(key, new_event(key))
    assert carried(event)["sequence"] == 3
    assert carried(event)["previous"] == carried(restarted[-1])["hash"]


def test_an_event_keeps_its_own_extensions_beside_the_chains(chain):
    from fhir_server.audit.chain import carried as chain_values
    key = uuid.uuid4().hex
    other = {"url": "https://example.org/x", "valueString": "kept"}
    event = chain.append(key, {**new_event(key), "extension": [other]})
    assert event["extension"][0] == other and event["extension"][1]["url"] == CHAIN_EXTENSION
    assert chain_values(event)[:2] == (1, GENESIS)
