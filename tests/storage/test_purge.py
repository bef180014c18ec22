"""Definitive deletion: nothing of a purged record is left in any collection, other records stay whole and
findable through their posting lists, a purge cut short is finished by running it again, and additions to a
shared list made while a purge rewrites it are kept."""
from __future__ import annotations

import threading
import uuid

import pytest
from pymongo.collection import Collection

from fhir_server.registry import RESOURCES
from fhir_server.search.values import index_fields
from fhir_server.storage import purge as purge_module
from fhir_server.storage.postings import Postings, identifier_key, posting_keys
from fhir_server.storage.purge import PurgeReport, purge
from fhir_server.storage.resources import ResourceStore, VersionConflict
from fhir_server.storage.search_pages import CHUNK, SearchPages
from fhir_server.storage.transactions import Transactions, Write
from fhir_server.storage.readers import ServerLookup

LOOKUP = ServerLookup("the test's own check")

INS = "urn:oid:1.2.250.1.213.1.4.8"


def new_id() -> str:
    return uuid.uuid4().hex


def write(store: ResourceStore, resource_type: str, rid: str, resource: dict | None, previous: int = 0,
          content: bytes | None = None) -> None:
    if resource is not None:
        resource = {"resourceType": resource_type, **resource}
    method = "DELETE" if resource is None else "PUT" if previous else "POST"
    store.write(resource_type, rid, resource, previous, method, content, index(resource_type, resource))


def index(resource_type: str, resource: dict | None) -> dict:
    return index_fields(resource_type, resource) if resource and RESOURCES[resource_type].supports(
        "search-type") else {}


def patient(ins: str, family: str) -> dict:
    return {"identifier": [{"system": INS, "value": ins}], "name": [{"family": family}]}


def document(patient_id: str, binary_id: str, identifier: str) -> dict:
    return {"status": "current", "subject": {"reference": f"Patient/{patient_id}"},
            "identifier": [{"system": "urn:test", "value": identifier}],
            "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{binary_id}"}}]}


def binary(patient_id: str) -> dict:
    return {"contentType": "text/plain", "securityContext": {"reference": f"Patient/{patient_id}"}}


def make_record(store: ResourceStore, shared_identifier: str) -> dict:
    """A Patient with an INS in three versions and a fourth an undecided transaction reserved; a document
    (two versions, then a third voided by an aborted transaction) and its Binary (two contents); a second
    document, deleted, and its Binary, which a third document points at too; kept searches and a journal
    entry naming them."""
    pid, ins = new_id(), str(uuid.uuid4().int)[:15]
    d0, d1, d2, b0, b1 = new_id(), new_id(), new_id(), new_id(), new_id()
    write(store, "Patient", pid, patient(ins, "Martin"))
    write(store, "Patient", pid, {**patient(ins, "Martin"), "gender": "female"}, 1)
    write(store, "Patient", pid, {**patient(ins, "Martin-Durand"), "gender": "female"}, 2)
    write(store, "Binary", b0, binary(pid), content=b"first report")
    write(store, "Binary", b0, binary(pid), 1, content=b"corrected report")
    write(store, "Binary", b1, binary(pid), content=b"second report")
    write(store, "DocumentReference", d0, document(pid, b0, shared_identifier))
    write(store, "DocumentReference", d0, {**document(pid, b0, shared_identifier), "description": "v2"}, 1)
    write(store, "DocumentReference", d1, document(pid, b1, new_id()))
    write(store, "DocumentReference", d1, None, 1)
    write(store, "DocumentReference", d2, document(pid, b1, new_id()))
    voided = {"resourceType": "DocumentReference", **document(pid, b0, new_id())}
    aborted = [Write("DocumentReference", d0, voided, 2, "PUT", None, index("DocumentReference", voided)),
               Write("Patient", pid, {"resourceType": "Patient"}, 0, "POST")]  # conflicts: aborts the transaction
    with pytest.raises(VersionConflict):
        Transactions(store, 30).write_all(aborted)
    assert store.history.find_one({"_id": f"DocumentReference/{d0}/3"})["void"]
    reserved = {"resourceType": "Patient", **patient(ins, "Durand")}
    store.reserve(Write("Patient", pid, reserved, 3, "PUT", None, index("Patient", reserved)), tx=new_id())
    store.journal.insert_one({"type": "DocumentReference", "rid": d0})  # as a crashed write leaves
    targets = [("Patient", pid), ("DocumentReference", d0), ("DocumentReference", d1), ("DocumentReference", d2),
               ("Binary", b0), ("Binary", b1)]
    ids = [i for _, i in targets]
    files = [d["content"]["file"] for d in store.history.find({"rid": {"$in": ids}}) if d.get("content")]
    pages = SearchPages(store.db, ttl_seconds=600)
    searches = [pages.save("DocumentReference", [("patient", pid)], [d0, d1], 2, "someone"),
                pages.save("DocumentReference", [], [f"other-{n}" for n in range(CHUNK)] + [d1], None, "someone")]
    return {"patient": pid, "ins": ins, "documents": [d0, d1, d2], "binaries": [b0, b1], "targets": targets,
            "ids": ids, "files": files, "searches": searches}


def make_other(store: ResourceStore, shared_identifier: str) -> dict:
    pid, ins, doc, bin_ = new_id(), str(uuid.uuid4().int)[:15], new_id(), new_id()
    write(store, "Patient", pid, patient(ins, "Bernard"))
    write(store, "Binary", bin_, binary(pid), content=b"other report")
    write(store, "DocumentReference", doc, document(pid, bin_, shared_identifier))
    search = SearchPages(store.db, ttl_seconds=600).save("DocumentReference", [("patient", pid)], [doc], 1, "someone")
    return {"patient": pid, "ins": ins, "document": doc, "binary": bin_, "search": search}


def assert_erased(db, record: dict) -> None:
    ids = record["ids"]
    assert db["history"].count_documents({"rid": {"$in": ids}}) == 0
    for resource_type, rid in record["targets"]:
        assert db[resource_type].find_one({"_id": rid}) is None
    assert record["files"] and db["binary.files"].count_documents({"_id": {"$in": record["files"]}}) == 0
    assert db["binary.chunks"].count_documents({"files_id": {"$in": record["files"]}}) == 0
    assert db["postings"].count_documents({"ids": {"$in": ids}}) == 0
    owned = f">(Patient|Binary)/({'|'.join(ids)})$"  # the lists keyed by a purged resource
    assert db["postings"].count_documents({"_id": {"$regex": owned}}) == 0
    assert db["posting_heads"].count_documents({"_id": {"$regex": owned}}) == 0
    assert db["search_pages"].count_documents({"ids": {"$in": ids}}) == 0
    for token in record["searches"]:
        assert db["search_pages"].count_documents({"_id": {"$regex": f"^{token}"}}) == 0
    assert db["write_journal"].count_documents({"rid": {"$in": ids}}) == 0


def assert_intact(store: ResourceStore, other: dict, shared_identifier: str) -> None:
    pid, doc = other["patient"], other["document"]
    assert store.current("Patient", pid, reader=LOOKUP).resource["name"][0]["family"] == "Bernard"
    assert store.content(store.current("Binary", other["binary"], reader=LOOKUP)) == b"other report"
    assert store.postings.members(f"DocumentReference>Patient/{pid}") == [doc]
    assert store.postings.members(identifier_key("DocumentReference", "t:identifier", f"urn:test|{shared_identifier}")) == [doc]
    assert store.search_ids("DocumentReference", {"r:subject": f"Patient/{pid}"}, [], 10, True, reader=LOOKUP) == ([doc], 1)
    assert store.search_ids("DocumentReference", {"t:identifier": f"urn:test|{shared_identifier}"}, [], 10,
                            True, reader=LOOKUP) == ([doc], 1)
    assert [v.id for v in store.current_versions("DocumentReference", [doc], reader=LOOKUP)] == [doc]
    assert store.search_ids("Patient", {"t:identifier": f"{INS}|{other['ins']}"}, [], 10, True, reader=LOOKUP) == ([pid], 1)
    assert SearchPages(store.db, ttl_seconds=600).ids(other["search"], 0, 10) == [doc]


def test_a_purge_leaves_nothing_of_the_record_and_everything_else(store):
    shared = new_id()  # an identifier the purged record shares with the other one
    record, other = make_record(store, shared), make_other(store, shared)
    versions = store.history.count_documents({"rid": {"$in": record["ids"]}})
    assert versions == 4 + 3 + 2 + 1 + 2 + 1
    ins_key = identifier_key("Patient", "t:identifier", f"{INS}|{record['ins']}")
    assert store.postings.members(ins_key) == [record["patient"]]

    report = purge(store, record["targets"])

    assert_erased(store.db, record)
    assert_intact(store, other, shared)
    assert report.resources == 6 and report.versions == versions and report.search_pages == 2
    assert report.contents == 2 + 1  # the voided version's content went with its transaction
    assert report.posting_keys_deleted >= 3 and report.posting_keys_rewritten >= 2
    assert store.postings.members(ins_key) == []  # the INS no longer finds anybody
    assert store.search_ids("Patient", {"t:identifier": f"{INS}|{record['ins']}"}, [], 10, True, reader=LOOKUP) == ([], 0)
    assert store.current("Patient", record["patient"], reader=LOOKUP) is None
    store.recover()  # a journal entry naming it would have been replayed: none is left
    assert store.current("DocumentReference", record["documents"][0], reader=LOOKUP) is None

    assert purge(store, record["targets"]) == PurgeReport()  # again: nothing left to do
    assert_erased(store.db, record)
    assert_intact(store, other, shared)


class Crash(Exception):
    pass


def crash(*args: object) -> None:
    raise Crash()


@pytest.mark.parametrize("step", ["_delete_contents", "_clean_postings", "_delete_history", "_delete_current",
                                  "_delete_search_pages", "_delete_journal"])
def test_a_purge_cut_short_before_a_step_is_finished_by_the_next(store, monkeypatch, step):
    shared = new_id()
    record, other = make_record(store, shared), make_other(store, shared)
    with monkeypatch.context() as patched:
        patched.setattr(purge_module, step, crash)
        with pytest.raises(Crash):
            purge(store, record["targets"])
    purge(store, record["targets"])
    assert_erased(store.db, record)
    assert_intact(store, other, shared)


@pytest.mark.parametrize("collection,calls", [("history", 1), ("postings", 2), ("binary.chunks", 0),
                                              ("search_pages", 1)])
def test_a_purge_cut_short_within_a_step_is_finished_by_the_next(store, monkeypatch, collection, calls):
    """Crashes after `calls` deletions in one collection: between two versions of a resource, among the
    entries of a list (its head and last entries deleted, the emptied first one left), between GridFS files and
    their chunks, between kept searches and their chunks."""
    shared = new_id()
    record, other = make_record(store, shared), make_other(store, shared)
    done = 0

    def crashing(method):
        original = getattr(Collection, method)

        def wrapped(self, *args, **kwargs):
            nonlocal done
            if self.name == collection:
                if done == calls:
                    raise Crash()
                done += 1
            return original(self, *args, **kwargs)
        return wrapped
    with monkeypatch.context() as patched:
        for method in ("delete_one", "delete_many"):
            patched.setattr(Collection, method, crashing(method))
        with pytest.raises(Crash):
            purge(store, record["targets"])
    purge(store, record["targets"])
    assert_erased(store.db, record)
    assert_intact(store, other, shared)


def test_additions_to_a_list_being_rewritten_are_kept(store, db):
    """Another person registered with the same INS while the purge rewrites the INS's list: every id added
    before, during or after stays listed, and no entry of the list still holds the purged id."""
    ins, pid = str(uuid.uuid4().int)[:15], new_id()
    key = identifier_key("Patient", "t:identifier", f"{INS}|{ins}")
    earlier = [new_id() for _ in range(30)]
    for other in earlier[:15]:
        store.postings.add({key: [other]})
    write(store, "Patient", pid, patient(ins, "Martin"))
    for other in earlier[15:]:
        store.postings.add({key: [other]})
    purged = threading.Event()
    added: list[list[str]] = [[] for _ in range(4)]

    def add(worker: int) -> None:
        postings = Postings(db)
        while not purged.is_set() or len(added[worker]) < 15:
            added[worker].append(new_id())
            postings.add({key: [added[worker][-1]]})

    threads = [threading.Thread(target=add, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    try:
        before = sum(map(len, added))
        report = purge(store, [("Patient", pid)])
        during = sum(map(len, added)) - before
    finally:
        purged.set()
        for thread in threads:
            thread.join()
    own_lists = posting_keys("Patient", index("Patient", {"resourceType": "Patient", **patient(ins, "Martin")}))
    assert len(own_lists) == 5  # the INS's, and the name prefixes' (mar, mart, marti, martin)
    assert report.posting_keys_rewritten == 5 and during > 0
    assert sorted(store.postings.members(key)) == sorted(earlier + [i for ids in added for i in ids])
    assert db["postings"].count_documents({"ids": pid}) == 0
    assert purge(store, [("Patient", pid)]) == PurgeReport()
