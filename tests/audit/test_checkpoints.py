"""Tamper evidence against whoever can write to the database (FerretDB): links keyed with a key it does not
hold, checkpoints outside it; a crash's unfinished link told from a removal; chains written before the key."""
from __future__ import annotations

import json
import stat
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from fhir_server.storage.mongo import AUDIT_CHAIN
from fhir_server.audit.chain import CHAIN_EXTENSION, GENESIS, AuditChain, content, legacy_digest
from fhir_server.audit.checkpoints import Checkpoints
from fhir_server.audit.keys import AuditKey, load_key
from fhir_server.audit.verify import verify, verify_command

from .conftest import EventStore
from .test_chain import carried, chained, new_event

LONG_AGO = datetime(2020, 1, 1, tzinfo=timezone.utc)  # past any grace period


def link_id(key: str, n: int) -> str:
    return f"{key}:{n:012d}"


def rewrite(db, store: EventStore, key: str, start: int, hasher) -> None:
    """What someone writing to the database does to hide an edit: recomputes every link from `start` on with
    `hasher(previous, event)`, drops the links' `mac` marks, and puts the new hashes in the events too."""
    links = db[AUDIT_CHAIN]
    previous = links.find_one({"_id": link_id(key, start - 1)})["hash"] if start > 1 else GENESIS
    n = start
    while (link := links.find_one({"_id": link_id(key, n)})) is not None:
        event = store.events[link["event_id"]]
        new_hash = hasher(previous, event)
        for extension in event["extension"]:
            if extension["url"] == CHAIN_EXTENSION:
                extension["extension"][1:] = [{"url": "previous", "valueString": previous},
                                              {"url": "hash", "valueString": new_hash}]
        links.update_one({"_id": link["_id"]}, {"$set": {"hash": new_hash, "previous": previous},
                                                "$unset": {"mac": ""}})
        previous, n = new_hash, n + 1


def test_an_intact_chain_passes_with_its_checkpoints(chain, store, capsys):
    key = uuid.uuid4().hex
    chained(chain, store, key, 4)
    report = verify(chain, store.read, key)
    assert (report.intact, report.events, report.checkpoints, report.broken, report.unfinished) == (True, 4, 4, [], [])
    assert verify_command(chain, store.read, key) == 0
    assert capsys.readouterr().out == "1 chains, 4 events: intact\n"


def test_truncating_a_chains_tail_is_found(chain, store, db, capsys):
    key = uuid.uuid4().hex
    events = chained(chain, store, key, 5)
    for n in (4, 5):  # the last links and their events removed, the head lowered: the chain looks whole
        db[AUDIT_CHAIN].delete_one({"_id": link_id(key, n)})
        del store.events[events[n - 1]["id"]]
    db[AUDIT_CHAIN].update_one({"_id": f"{key}:head"}, {"$set": {"last": 3}})
    [problem] = verify(chain, store.read, key).broken
    assert (problem.key, problem.sequence, problem.reason) == (key, 4, "truncated")
    assert verify_command(chain, store.read, key) == 1
    assert capsys.readouterr().out == f"chain {key} #4: chain shorter than its checkpoints (its last links removed)\n"


def test_removing_a_whole_chain_is_found(chain, store, db):
    key = uuid.uuid4().hex
    chained(chain, store, key, 2)
    db[AUDIT_CHAIN].delete_many({"key": key})
    [problem] = [p for p in verify(chain, store.read).broken if p.key == key]  # known to the checkpoints only
    assert (problem.sequence, problem.reason) == (1, "truncated")


@pytest.mark.parametrize("attacker, start, reason", [
    ("sha-256", 3, "unkeyed"),      # after keyed links, a plain hash gives itself away
    ("sha-256", 1, "checkpoint"),   # the whole chain made to look legacy: its checkpoints pin the true hashes
    ("wrong key", 3, "changed"),
])
def test_an_edit_hidden_by_recomputing_the_later_links_is_found(chain, store, db, attacker, start, reason):
    key = uuid.uuid4().hex
    events = chained(chain, store, key, 5)
    store.events[events[start - 1]["id"]]["outcome"] = "8"
    wrong = AuditKey(b"\x01" * 32, Path("elsewhere"))
    rewrite(db, store, key, start, legacy_digest if attacker == "sha-256" else
            lambda previous, event: wrong.mac(previous + content(event)))
    [problem] = verify(chain, store.read, key).broken
    assert (problem.sequence, problem.event_id, problem.reason) == (start, events[start - 1]["id"], reason)


def test_a_crashs_unfinished_link_is_listed_not_broken(chain, store, db, capsys):
    """The writer chained the event, then was killed before storing it: the link stays, never confirmed."""
    key = uuid.uuid4().hex
    chained(chain, store, key, 2)
    lost = chain.append(key, new_event(key))  # killed here: never stored, never checkpointed
    chained(chain, store, key, 2)
    db[AUDIT_CHAIN].update_one({"_id": link_id(key, 3)}, {"$set": {"at": LONG_AGO}})
    report = verify(chain, store.read, key)
    assert report.intact and report.events == 5 and report.pending == []
    assert [(p.sequence, p.event_id, p.reason) for p in report.unfinished] == [(3, lost["id"], "unfinished")]
    assert verify_command(chain, store.read, key) == 0
    assert capsys.readouterr().out == (
        f"chain {key} #3 AuditEvent/{lost['id']}: unfinished: the server stopped before storing the event "
        "(never stored, not removed)\n1 chains, 5 events: intact (1 unfinished)\n")


def test_removing_a_stored_event_is_not_taken_for_a_crash(chain, store, db):
    key = uuid.uuid4().hex
    events = chained(chain, store, key, 3)
    db[AUDIT_CHAIN].update_many({"key": key}, {"$set": {"at": LONG_AGO}})
    del store.events[events[1]["id"]]  # its checkpoint says it was stored
    [problem] = verify(chain, store.read, key).broken
    assert (problem.sequence, problem.reason) == (2, "missing")


def legacy_chain(db, store: EventStore, key: str, count: int) -> list[dict]:
    """A chain as the server wrote it before the key: plain SHA-256 links, no `mac` mark, no checkpoints."""
    previous, events = GENESIS, []
    for n in range(1, count + 1):
        event = new_event(key, n)
        link = {"_id": link_id(key, n), "key": key, "n": n, "event_id": event["id"],
                "hash": legacy_digest(previous, event), "previous": previous, "at": LONG_AGO}
        db[AUDIT_CHAIN].insert_one(link)
        event["extension"] = [{"url": CHAIN_EXTENSION, "extension": [
            {"url": "sequence", "valueInteger": n}, {"url": "previous", "valueString": previous},
            {"url": "hash", "valueString": link["hash"]}]}]
        store.persist(event)
        events.append(event)
        previous = link["hash"]
    db[AUDIT_CHAIN].insert_one({"_id": f"{key}:head", "key": key, "last": count})
    return events


def test_a_legacy_chain_verifies_as_legacy_and_goes_on_keyed(chain, store, db, capsys):
    key = uuid.uuid4().hex
    legacy = legacy_chain(db, store, key, 3)
    report = verify(chain, store.read, key)
    assert (report.intact, report.events, report.legacy) == (True, 3, 3)
    [event] = chained(chain, store, key, 1)
    assert carried(event)["previous"] == carried(legacy[-1])["hash"]
    assert verify_command(chain, store.read, key) == 0
    assert capsys.readouterr().out == "1 chains, 4 events: intact (3 legacy links without the key)\n"
    store.events[legacy[0]["id"]]["outcome"] = "4"  # unkeyed, yet a plain edit still shows
    [problem] = verify(chain, store.read, key).broken
    assert (problem.sequence, problem.reason) == (1, "changed")


def test_a_legacy_links_missing_event_is_still_missing(chain, store, db):
    key = uuid.uuid4().hex
    events = legacy_chain(db, store, key, 2)
    del store.events[events[0]["id"]]  # no checkpoint can tell a crash from a removal: reported as before
    [problem] = verify(chain, store.read, key).broken
    assert (problem.sequence, problem.reason) == (1, "missing")


def test_an_altered_checkpoint_line_is_rejected(db, store, tmp_path, capsys):
    key = load_key(tmp_path / "audit.key")
    chain = AuditChain(db, key, Checkpoints(key, db.name, tmp_path / "checkpoints"))
    chain_key = uuid.uuid4().hex
    chained(chain, store, chain_key, 2)
    [path] = (tmp_path / "checkpoints" / db.name).glob("*.jsonl")
    lines = path.read_text().splitlines()
    forged = {**json.loads(lines[1]), "n": 1}  # moved back, to hide a truncation
    path.write_text("\n".join([lines[0], json.dumps(forged)]) + "\n")
    report = verify(chain, store.read, chain_key)
    assert not report.intact and report.rejected == [f"{path}:2"] and report.broken == []
    assert verify_command(chain, store.read, chain_key) == 1
    assert f"checkpoint {path}:2: MAC mismatch" in capsys.readouterr().out
    # Verified with another key, every link and every checkpoint line fails.
    other = load_key(tmp_path / "other.key")
    report = verify(AuditChain(db, other, Checkpoints(other, db.name, tmp_path / "checkpoints")), store.read,
                    chain_key)
    assert len(report.rejected) == 2 and [p.reason for p in report.broken] == ["changed"]


def test_checkpoints_of_another_database_do_not_count(db, store, tmp_path):
    key = load_key(tmp_path / "audit.key")
    chain = AuditChain(db, key, Checkpoints(key, db.name, tmp_path))
    chain_key = uuid.uuid4().hex
    chained(chain, store, chain_key, 1)
    (tmp_path / "copy").mkdir()
    for path in (tmp_path / db.name).glob("*.jsonl"):
        (tmp_path / "copy" / path.name).write_text(path.read_text())
    copied = Checkpoints(key, "copy", tmp_path).read()
    assert copied.chains == {} and copied.lines == 0 and len(copied.rejected) == 1


def test_the_key_is_made_once_private_and_kept(tmp_path, monkeypatch):
    path = tmp_path / "state" / "audit.key"
    monkeypatch.setenv("FHIR_AUDIT_KEY_FILE", str(path))
    key = load_key()
    assert key.path == path and len(key.secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key() == key and load_key(tmp_path / "another.key") != key
    path.write_text("not a key\n")
    with pytest.raises(ValueError, match="not an audit key"):
        load_key()

