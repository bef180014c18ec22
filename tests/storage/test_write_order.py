"""A write interrupted between its statements is completed, never lost or half-visible."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from fhir_server.storage.mongo import ensure_indexes
from fhir_server.storage.resources import ResourceStore, VersionConflict
from fhir_server.storage.readers import ServerLookup

LOOKUP = ServerLookup("the test's own check")


@pytest.fixture()
def store(db):
    ensure_indexes(db, ["Patient"])
    return ResourceStore(db)


def crashed_write(store: ResourceStore, rid: str, version: int, resource: dict) -> None:
    """Steps 2 and 3 of a write (journal entry, history insert) without 4 and 5, as a crash leaves it."""
    from datetime import datetime, timezone
    store.journal.insert_one({"type": "Patient", "rid": rid, "version": f"Patient/{rid}/{version}"})
    store.history.insert_one({
        "_id": f"Patient/{rid}/{version}", "type": "Patient", "rid": rid, "vid": version,
        "ts": datetime.now(timezone.utc), "method": "PUT", "deleted": False,
        "json": json.dumps({**resource, "id": rid, "meta": {"versionId": str(version)}})})


def test_recover_completes_a_write_cut_short(store):
    rid = uuid.uuid4().hex
    store.write("Patient", rid, {"resourceType": "Patient", "gender": "male"}, 0, "POST")
    crashed_write(store, rid, 2, {"resourceType": "Patient", "gender": "female"})
    assert store.current("Patient", rid, reader=LOOKUP).version == 1
    assert store.recover() >= 1
    current = store.current("Patient", rid, reader=LOOKUP)
    assert current.version == 2 and current.resource["gender"] == "female"
    assert store.journal.count_documents({"rid": rid}) == 0
    assert store.recover() == 0


def test_a_finished_writes_journal_entry_is_removed_after_the_answer(store):
    """Removed off the request's path (storage/journal.py), several writes' entries at a time."""
    rids = [uuid.uuid4().hex for _ in range(5)]
    for rid in rids:
        store.write("Patient", rid, {"resourceType": "Patient"}, 0, "POST")
    for _ in range(100):
        if store.journal.count_documents({"rid": {"$in": rids}}) == 0:
            break
        time.sleep(0.1)
    assert store.journal.count_documents({"rid": {"$in": rids}}) == 0
    assert all(store.current("Patient", rid, reader=LOOKUP).version == 1 for rid in rids)


def test_a_writer_colliding_with_a_cut_short_write_completes_it_and_conflicts(store):
    rid = uuid.uuid4().hex
    store.write("Patient", rid, {"resourceType": "Patient"}, 0, "POST")
    crashed_write(store, rid, 2, {"resourceType": "Patient", "gender": "other"})
    with pytest.raises(VersionConflict):
        store.write("Patient", rid, {"resourceType": "Patient", "gender": "male"}, 1, "PUT")
    assert store.current("Patient", rid, reader=LOOKUP).resource["gender"] == "other"
    third = store.write("Patient", rid, {"resourceType": "Patient", "gender": "male"}, 2, "PUT")
    assert third.version == 3 and store.current("Patient", rid, reader=LOOKUP).version == 3


def test_a_crashed_create_becomes_visible_on_recovery(store):
    rid = uuid.uuid4().hex
    crashed_write(store, rid, 1, {"resourceType": "Patient"})
    assert store.current("Patient", rid, reader=LOOKUP) is None
    store.recover()
    assert store.current("Patient", rid, reader=LOOKUP).version == 1


def test_a_write_cut_short_before_its_history_insert_leaves_nothing(store):
    rid = uuid.uuid4().hex
    store.journal.insert_one({"type": "Patient", "rid": rid, "version": f"Patient/{rid}/1"})
    store.recover()
    assert store.current("Patient", rid, reader=LOOKUP) is None
    assert store.version("Patient", rid, 1, reader=LOOKUP) is None
    assert store.journal.count_documents({"rid": rid}) == 0


def test_instance_history_pages_skip_versions_written_after_the_first_page(store):
    from datetime import datetime, timezone
    rid = uuid.uuid4().hex
    for version in range(5):
        store.write("Patient", rid, {"resourceType": "Patient"}, version, "PUT")
    time.sleep(0.002)
    snapshot = datetime.now(timezone.utc)
    time.sleep(0.002)  # lastUpdated has millisecond precision
    store.write("Patient", rid, {"resourceType": "Patient"}, 5, "PUT")
    page, total = store.history_page("Patient", rid, None, snapshot, 2, 2, reader=LOOKUP)
    assert total == 5 and [v.version for v in page] == [3, 2]
    last, _ = store.history_page("Patient", rid, None, snapshot, 4, 2, reader=LOOKUP)
    assert [v.version for v in last] == [1]
