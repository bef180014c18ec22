"""Posting lists (FerretDB): no addition lost to concurrent writers, the same answers as a scan, and the common
hospital search served by `_id` lookups that the database's index answers (checked with explain)."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pymongo
import pytest
from pymongo import monitoring
from pymongo.database import Database

from fhir_server.access.policy import RecordAccess
from fhir_server.registry import RESOURCES
from fhir_server.search import INDEXES
from fhir_server.search.chains import store_resolver
from fhir_server.search.filters import search_filter
from fhir_server.search.query import parse_search
from fhir_server.service.resources import ResourceService
from fhir_server.service.search import sort_fields
from fhir_server.storage import postings as postings_module
from fhir_server.storage.candidates import candidate_ids, sort_docs
from fhir_server.storage.lookup_keys import birth_key, name_key
from fhir_server.storage.mongo import ensure_indexes
from fhir_server.storage.postings import Postings, identifier_key
from fhir_server.storage.resources import ResourceStore
from fhir_server.storage.readers import ServerLookup

LOOKUP = ServerLookup("the test's own check")

LOINC = "http://loinc.org"


def test_concurrent_additions_are_never_lost(db):
    postings = Postings(db)
    key = f"DocumentReference>Patient/{uuid.uuid4().hex}"

    def add(worker: int) -> None:
        for n in range(15):
            postings.add({key: [f"{worker}-{n}"]})
    threads = [threading.Thread(target=add, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(postings.members(key)) == sorted(f"{w}-{n}" for w in range(8) for n in range(15))
    # Older entries are emptied, the last two kept whole.
    entries = list(db["postings"].find({"_id": {"$regex": f":{key}$"}}))
    assert len(entries) == 120 and sum("ids" in e for e in entries) == 2


def test_a_stale_hint_cannot_take_an_old_position_again(db):
    postings = Postings(db)
    key = f"Patient|identifier|urn:test|{uuid.uuid4().hex}"
    postings.add({key: ["a"]})
    postings.add({key: ["b"]})
    postings.add({key: ["c"]})
    db["posting_heads"].update_one({"_id": key}, {"$set": {"last": 1}})  # as a lost race could leave it
    Postings(db).add({key: ["d"]})  # a writer that remembers nothing of the list reads from the hint
    assert sorted(postings.members(key)) == ["a", "b", "c", "d"]
    assert postings.members(f"Patient|identifier|urn:test|{uuid.uuid4().hex}") == []


def test_an_entry_a_crashed_writer_left_without_a_head_lists_nothing_until_a_write_settles_it(db):
    """A writer inserts a list's first entry, then raises its head before the write goes on; one that crashed in
    between left an id whose resource was never written: read as empty, kept by the next writer."""
    key = f"DocumentReference>Patient/{uuid.uuid4().hex}"
    db["postings"].insert_one({"_id": f"1:{key}", "ids": ["never-written"]})
    assert Postings(db).members(key) == []
    Postings(db).add({key: ["written"]})
    assert Postings(db).members(key) == ["never-written", "written"]
    assert db["posting_heads"].find_one({"_id": key})["last"] == 2


def test_writers_remembering_lists_others_moved_on_lose_nothing(database):
    """Two writers (two server processes) each remember the last entry they wrote of the same lists; each
    addition by one makes the other's memory stale. One add writes all its lists with one command."""
    uri, name = database
    inserts: list[int] = []

    class Inserts(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            if event.command_name == "update" and event.command["update"] == "postings":  # write_each's
                inserts.append(sum("$setOnInsert" in s["u"] for s in event.command["updates"]))

        def succeeded(self, event) -> None:
            pass

        def failed(self, event) -> None:
            pass
    clients = [pymongo.MongoClient(uri, event_listeners=[Inserts()]) for _ in range(2)]
    try:
        writers = [Postings(client[name]) for client in clients]
        keys = [f"AuditEvent>Patient/{uuid.uuid4().hex}" for _ in range(3)]
        for n in range(10):
            inserts.clear()
            writers[n % 2].add({key: [f"{key}-{n}"] for key in keys})
            assert inserts[0] == 3  # every list in one command (then, when stale, again one by one)
        for key in keys:
            assert writers[0].members(key) == [f"{key}-{n}" for n in range(10)]
    finally:
        for client in clients:
            client.close()


@contextmanager
def server_service(store: ResourceStore) -> Iterator[ResourceService]:
    """The resource service under a job's system principal (as an import runs)."""
    service = ResourceService(store)
    yield service.acting_for(RecordAccess.for_job(store, service.records, "test"))


def new_patient(service: ResourceService) -> str:
    """A stored Patient's reference: a document is stored only in the record of a Patient the server holds."""
    return f"Patient/{service.create('Patient', {'resourceType': 'Patient'}).version.id}"


def test_an_overflowing_list_is_no_longer_used(db, store, monkeypatch):
    monkeypatch.setattr(postings_module, "MAX_IDS", 2)
    with server_service(store) as service:
        _overflow(store, service)


def _overflow(store: ResourceStore, service: ResourceService) -> None:
    subject = new_patient(service)
    for _ in range(3):
        service.create("DocumentReference", document(subject, "2024-01-01T00:00:00Z"))
    assert store.postings.members(f"DocumentReference>{subject}") is None
    assert len(search(store, "DocumentReference", [("patient", subject)])) == 3  # by a scan


def document(subject: str, date: str | None, code: str = "11488-4", identifier: str | None = None) -> dict:
    resource = {"resourceType": "DocumentReference", "status": "current",
                "type": {"coding": [{"system": LOINC, "code": code}]}, "subject": {"reference": subject},
                "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}
    if date:
        resource["date"] = date
    if identifier:
        resource["identifier"] = [{"system": "urn:test", "value": identifier}]
    return resource


def search(store: ResourceStore, resource_type: str, items: list[tuple[str, str]]) -> list[str]:
    request = parse_search(resource_type, items, strict=True)
    ids, total = store.search_ids(resource_type, search_filter(request, resolve=store_resolver(store, LOOKUP)),
                                  sort_fields(request), 100, with_total=True, reader=LOOKUP)
    assert total == len(ids)
    return ids


@pytest.mark.parametrize("items", [
    [("patient", "{patient}"), ("_sort", "-date")],
    [("patient", "{patient}"), ("_sort", "date")],
    [("subject", "{subject}"), ("type", f"{LOINC}|11488-4"), ("date", "ge2024-02-01"), ("_sort", "-date")],
    [("subject:Patient", "{patient}"), ("_sort", "type,-date")],
    [("patient", "{patient}"), ("type:not", f"{LOINC}|11488-4")],
    [("identifier", "urn:test|{code}-1,urn:test|{code}-3"), ("_sort", "-_id")],
    [("patient", "{patient}"), ("identifier", "urn:test|{code}-2")],
    [("patient", "{patient},{other}"), ("_sort", "date")],
])
def test_posting_lists_give_the_answers_of_a_scan(store, items):
    with server_service(store) as service:
        _lists_and_scan(store, service, items)


def _lists_and_scan(store: ResourceStore, service: ResourceService, items: list[tuple[str, str]]) -> None:
    patient = new_patient(service).partition("/")[2]
    other = new_patient(service).partition("/")[2]
    code = uuid.uuid4().hex
    dates = ["2024-03-01T10:00:00Z", None, "2024-01-15T00:00:00Z", "2024-02-10T08:00:00+02:00", "2024-02-10T00:00:00Z"]
    for n, date in enumerate(dates):
        service.create("DocumentReference", document(f"Patient/{patient}", date, ["11488-4", "57833-6"][n % 2],
                                                     f"{code}-{n}"))
    service.create("DocumentReference", document(f"Patient/{other}", "2024-02-20T00:00:00Z"))
    service.create("DocumentReference", document(new_patient(service), "2024-02-20T00:00:00Z",
                                                 identifier=f"{code}-9"))
    values = {"patient": patient, "subject": f"Patient/{patient}", "code": code, "other": other}
    items = [(name, value.format(**values)) for name, value in items]
    found = search(store, "DocumentReference", items)
    postings, store.postings = store.postings, None
    try:
        scanned = search(store, "DocumentReference", items)
    finally:
        store.postings = postings
    assert found == scanned and found


def test_sort_order_is_mongodbs():
    docs = [{"_id": "a", "f": ["m", "b"]}, {"_id": "b"}, {"_id": "c", "f": "k"}, {"_id": "d", "f": ["z"]}]
    assert [d["_id"] for d in sort_docs(docs, [("f", 1)])] == ["b", "a", "c", "d"]
    assert [d["_id"] for d in sort_docs(docs, [("f", -1)])] == ["d", "a", "c", "b"]
    assert [d["_id"] for d in sort_docs(docs, [("_id", -1)])] == ["d", "c", "b", "a"]


class Recorder(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[dict] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("find", "aggregate", "count"):
            self.commands.append(dict(event.command))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def test_the_common_hospital_search_uses_an_index(database, store):
    """`DocumentReference?patient=..&type=..&date=..&_sort=-date`. On FerretDB every database read is a lone
    `_id` filter, which FerretDB hands to SQLite, whose plan uses the `_id` index; on MongoDB the query's
    winning plan scans the (patient, date) index. Both checked with explain."""
    with server_service(store) as service:
        subject = new_patient(service)
        for month in range(1, 7):
            service.create("DocumentReference", document(subject, f"2024-0{month}-01T00:00:00Z"))
    items = [("patient", subject), ("type", f"{LOINC}|11488-4"), ("date", "ge2024-03-01"), ("_sort", "-date")]
    recorder = Recorder()
    uri, name = database
    client = pymongo.MongoClient(uri, tz_aware=True, event_listeners=[recorder])
    try:
        watched = ResourceStore(client[name])
        found = search(watched, "DocumentReference", items)
        assert len(found) == 4
        if not watched.ferretdb:
            request = parse_search("DocumentReference", items, strict=True)
            plan = client[name]["DocumentReference"].find(search_filter(request)).sort(sort_fields(request)).explain()
            assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"]) and "r:patient" in str(plan)
            return
        assert recorder.commands
        for command in recorder.commands:
            if "find" in command:
                assert list(command["filter"]) == ["_id"] and isinstance(command["filter"]["_id"], str)
            else:
                first = command["pipeline"][0]["$match"]
                assert list(first) == ["_id"] and isinstance(first["_id"], str)
        explained = client[name].command("explain", {"aggregate": "DocumentReference", "pipeline": [
            {"$match": {"_id": found[0]}}, {"$match": {"t:type": f"{LOINC}|11488-4"}}], "cursor": {}})
        assert explained["filterPushdown"] is True
        assert "USING INDEX" in str(explained["queryPlanner"]) and "_id_lookup" in str(explained["queryPlanner"])
    finally:
        client.close()


def test_candidates_are_those_every_covered_criterion_lists(db):
    postings = Postings(db)
    patient, other = f"Patient/{uuid.uuid4().hex}", f"Patient/{uuid.uuid4().hex}"
    token, author = f"urn:test|{uuid.uuid4().hex}", f"Practitioner/{uuid.uuid4().hex}"
    postings.add({f"DocumentReference>{patient}": ["d1", "d2", "d3"], f"DocumentReference>{other}": ["d4"],
                   identifier_key("DocumentReference", "t:identifier", token): ["d2"],
                   f"DocumentReference|r:author|{author}": ["d5", "d3", "d4", "d2"]})
    by_both = {"$and": [{"r:author": author}, {"r:patient": patient}, {"t:status": "current"}]}
    assert candidate_ids(postings, "DocumentReference", by_both) == ["d3", "d2"]  # in the first list's order
    assert candidate_ids(postings, "DocumentReference", {"$and": [{"r:author": {"$in": []}}]}) == []  # none
    assert candidate_ids(postings, "DocumentReference", {"_id": {"$in": ["x", "y", "x"]}, "deleted": False}) == [
        "x", "y"]
    by_patient = {"$and": [{"r:patient": patient}, {"deleted": False}]}
    assert candidate_ids(postings, "DocumentReference", by_patient) == ["d1", "d2", "d3"]
    both = {"$and": [{"r:subject": {"$in": [patient, other]}}, {"t:identifier": token}, {"deleted": False}]}
    assert candidate_ids(postings, "DocumentReference", both) == ["d2"]
    assert candidate_ids(postings, "DocumentReference", {"$and": [{"r:subject": {"$in": [patient, other]}}]}) == [
        "d1", "d2", "d3", "d4"]
    for uncovered in ({"$and": [{"r:patient": "7"}]}, {"$and": [{"t:identifier": "no-system"}]},
                      {"$and": [{"$or": [{"r:patient": patient}, {"s:family": "x"}]}]}, {"deleted": False},
                      {"r:patient": {"$nin": [patient]}}):
        assert candidate_ids(postings, "DocumentReference", uncovered) is None
    assert candidate_ids(postings, "Consent", by_patient) == []  # a list nobody wrote: no candidates


@contextmanager
def other_database(database: tuple[str, str], suffix: str) -> Iterator[Database]:
    """A database of its own beside the test's (dropped after), with the store's indexes."""
    uri, name = database
    client = pymongo.MongoClient(uri, tz_aware=True)
    legacy = client[f"{name}_{suffix}"]
    try:
        ensure_indexes(legacy, list(RESOURCES), INDEXES)
        yield legacy
    finally:
        client.drop_database(legacy)
        client.close()


def rebuilt_store(legacy: Database) -> ResourceStore:
    """The store a server starting on `legacy` opens, with its posting lists (on MongoDB too, for the test)."""
    store = ResourceStore(legacy)
    store.postings = store.postings or Postings(legacy)
    return store


def test_a_database_from_before_the_lists_gets_them_built_once(database, db):
    with other_database(database, "legacy") as legacy:
        old = ResourceStore(legacy)
        old.postings = None  # written as a version without posting lists did
        with server_service(old) as service:
            subject = new_patient(service)
            for _ in range(3):
                service.create("DocumentReference", document(subject, "2024-01-01T00:00:00Z"))
            service.create("Patient", {"resourceType": "Patient", "identifier": [{"system": "urn:test", "value": "1"}]})
        store = rebuilt_store(legacy)
        assert not store.postings.is_built()
        assert store.build_postings(list(RESOURCES)) == 5
        assert store.build_postings(list(RESOURCES)) == 0  # once
        assert len(store.postings.members(f"DocumentReference>{subject}")) == 3
        assert len(search(store, "DocumentReference", [("patient", subject)])) == 3
        assert len(search(store, "Patient", [("identifier", "urn:test|1")])) == 1


def test_writers_racing_to_start_the_same_lists_lose_nothing(db):
    """Writers that remember nothing start new lists at the same moment: one takes each position, their head
    hints race to be inserted first, and every addition is kept."""
    writers = [Postings(db) for _ in range(6)]
    for _ in range(30):
        keys = [f"DocumentReference>Patient/{uuid.uuid4().hex}" for _ in range(3)]
        start, errors = threading.Barrier(len(writers)), []

        def add(n: int) -> None:
            try:
                start.wait(10)
                writers[n].add({key: [f"{n}"] for key in keys})
            except BaseException as error:  # reported by the test thread
                errors.append(error)
        threads = [threading.Thread(target=add, args=(n,)) for n in range(len(writers))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for key in keys:
            assert sorted(writers[0].members(key)) == [str(n) for n in range(len(writers))]


RPPS = "urn:oid:1.2.250.1.71.4.2.1"


def lookup_world(service: ResourceService) -> dict:
    """Patients named from a made-up stem (accented, compound, upper case, inside another name) and born on
    two days; two practitioners; documents by each, and one by a logical author."""
    stem = uuid.uuid4().hex[:6].translate(str.maketrans("0123456789", "ghijklmnop"))
    patients = []
    for family, given, born in ((f"{stem}ère", ["Hélène"], "1931-02-03"), (f"{stem.upper()}ERE-MORIN", ["Helena"],
                                "1931-02-03"), (f"{stem}ère", ["Paul", "Hélène"], "1931-02-04"),
                                (f"Le{stem}", ["Hélène"], "1931-02-03"), (f"{stem}ère", ["Hélène"], "1931-02")):
        patients.append(service.create("Patient", {"resourceType": "Patient", "birthDate": born, "name": [
            {"family": family, "given": given}]}).version.id)
    rpps = [uuid.uuid4().hex for _ in range(3)]
    practitioners = [service.create("Practitioner", {"resourceType": "Practitioner", "identifier": [
        {"system": RPPS, "value": value}]}).version.id for value in rpps[:2]]
    authors = [{"reference": f"Practitioner/{p}"} for p in practitioners] + [
        {"type": "Practitioner", "identifier": {"system": RPPS, "value": rpps[2]}}]
    for n, (subject, author) in enumerate([(0, 0), (0, 1), (1, 0), (2, 2), (0, 0)]):
        resource = document(f"Patient/{patients[subject]}", f"2024-0{n + 1}-10T00:00:00Z")
        resource |= {"author": [authors[author]], "status": ["current", "superseded"][n % 2],
                     "category": [{"coding": [{"system": LOINC, "code": ["11488-4", "57833-6"][n % 2]}]}]}
        service.create("DocumentReference", resource)
    return {"stem": stem, "patient": patients[0], "rpps": rpps, "practitioner": practitioners[0]}


@pytest.mark.parametrize("resource_type, items, matches", [
    ("Patient", [("family", "{STEM}ERE"), ("given", "HELENE"), ("birthdate", "1931-02-03")], 1),
    ("Patient", [("family", "{stem}ère"), ("given", "hél"), ("birthdate", "1931-02-03")], 2),
    ("Patient", [("name", "{stem}"), ("birthdate", "1931-02")], 4),  # the month-precise one too
    ("Patient", [("name", "{stem}"), ("_sort", "-birthdate")], 4),
    ("Patient", [("given", "paul"), ("name", "{stem}e")], 1),
    ("Patient", [("name", "le{stem}")], 1),
    ("Patient", [("family", "{stem}ère"), ("birthdate", "1931-02-05")], 0),
    ("DocumentReference", [("author.identifier", RPPS + "|{rpps0}"), ("_sort", "-date")], 3),
    ("DocumentReference", [("author", "Practitioner/{practitioner}"), ("status", "current")], 3),
    ("DocumentReference", [("author:identifier", RPPS + "|{rpps2}")], 1),
    ("DocumentReference", [("patient", "{patient}"), ("category", f"{LOINC}|57833-6")], 1),
    ("DocumentReference", [("patient", "{patient}"), ("status", "current"), ("_sort", "-date")], 2),
    ("DocumentReference", [("patient", "{patient}"), ("date", "ge2024-01-01"), ("date", "lt2024-03-01")], 2),
])
def test_lookup_lists_give_the_answers_of_a_scan(store, resource_type, items, matches):
    with server_service(store) as service:
        world = lookup_world(service)
    values = {"stem": world["stem"], "STEM": world["stem"].upper(), "patient": world["patient"],
              "practitioner": world["practitioner"], **{f"rpps{n}": v for n, v in enumerate(world["rpps"])}}
    items = [(name, value.format(**values)) for name, value in items]
    found = search(store, resource_type, items)
    postings, store.postings = store.postings, None
    try:
        scanned = search(store, resource_type, items)
    finally:
        store.postings = postings
    assert found == scanned and len(found) == matches


def test_the_lookups_read_lists_and_resources_by_id(database, store):
    with server_service(store) as service:
        world = lookup_world(service)
    stem = world["stem"]
    recorder = Recorder()
    uri, name = database
    client = pymongo.MongoClient(uri, tz_aware=True, event_listeners=[recorder])
    try:
        watched = ResourceStore(client[name])
        if not watched.ferretdb:  # MongoDB: the indexes of search/__init__.py serve them
            for resource_type, items in (
                    ("Patient", [("family", stem), ("given", "helene"), ("birthdate", "1931-02-03")]),
                    ("DocumentReference", [("author", f"Practitioner/{world['practitioner']}"), ("_sort", "-date")])):
                request = parse_search(resource_type, items, strict=True)
                plan = client[name][resource_type].find(search_filter(request)).sort(sort_fields(request)).explain()
                assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"])
            return
        for resource_type, items in (("Patient", [("family", stem), ("given", "helene"), ("birthdate", "1931-02-03")]),
                                     ("Patient", [("name", stem[:3])]),
                                     ("DocumentReference", [("author.identifier", f"{RPPS}|{world['rpps'][0]}")])):
            recorder.commands.clear()
            assert search(watched, resource_type, items)
            assert recorder.commands
            for command in recorder.commands:
                query = command["filter"] if "find" in command else command["pipeline"][0]["$match"]
                assert list(query) == ["_id"] and isinstance(query["_id"], str)
    finally:
        client.close()


def test_an_overflowing_lookup_list_is_no_longer_used(store, monkeypatch):
    monkeypatch.setattr(postings_module, "LOOKUP_MAX_IDS", 2)
    family = f"Over{uuid.uuid4().hex[:8]}"
    with server_service(store) as service:
        for _ in range(3):
            service.create("Patient", {"resourceType": "Patient", "name": [{"family": family}]})
    assert store.postings.members(name_key(family.lower()[:8])) is None
    assert len(search(store, "Patient", [("family", family)])) == 3  # by a scan


def test_a_database_with_older_lists_gets_the_new_kinds_built_once(database):
    with other_database(database, "lookups") as legacy:
        old = rebuilt_store(legacy)
        with server_service(old) as service:
            patient = service.create("Patient", {"resourceType": "Patient", "name": [{"family": "Lefèvre"}],
                                                 "birthDate": "1950-01-02"}).version.id
        for key in (name_key("lefevr"), birth_key("1950-01-02")):  # as a version without these kinds left it
            legacy["postings"].delete_many({"_id": {"$regex": f":{key}$"}})
            legacy["posting_heads"].delete_one({"_id": key})
        legacy["posting_heads"].delete_one({"_id": postings_module.BUILT})
        legacy["posting_heads"].insert_one({"_id": "#built:2", "last": 0})
        store = rebuilt_store(legacy)
        assert store.build_postings(list(RESOURCES)) == 1
        assert store.build_postings(list(RESOURCES)) == 0  # once
        assert store.postings.members(name_key("lefevr")) == [patient]
        assert store.postings.members(birth_key("1950-01-02")) == [patient]
