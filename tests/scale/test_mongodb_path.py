"""The store's MongoDB code path (no posting lists), run here on the suite's database: a professional's
search naming no patient is judged on the records of its few matches, read by `_id`, not on a scan of every
record closed to them (docs/scaling.md: that scan reaches every shard and grows with each closed record);
with many matches, on that scan, as before. Either way, what the rules refuse is left out."""
from __future__ import annotations

import uuid

import pytest
from pymongo import monitoring

from fhir_server import create_app
from fhir_server.auth.backend_client import register_in_process
from fhir_server.search.values import index_fields
from fhir_server.service.reindex import reindex
from fhir_server.storage import resources
from fhir_server.storage.purge import purge
from fhir_server.storage.resources import ResourceStore

from .capture import Commands

JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
INS = "urn:oid:1.2.250.1.213.1.4.8"
PRACTITIONER = "810000000001"  # the professional register_in_process's software acts for


@pytest.fixture(scope="module")
def mongodb_path(database):
    uri, name = database[0], f"{database[1]}_mongo_path"
    commands = Commands(name)
    monitoring.register(commands)
    app = create_app({"mongodb_uri": uri, "database_name": name})
    store = app.extensions["fhir"].store
    store.ferretdb, store.postings = False, None
    client = app.test_client()
    software = register_in_process(app, client, "MongoDB path", ["system/*.cruds"])
    yield client, {**JSON, **software.headers()}, store.db, commands
    commands.label = None
    store.db.client.drop_database(name)


def patients(client, headers, db, family: str) -> dict[str, str]:
    """An INS each for three records of that family name: open, closed, and blocking the professional."""
    made = {}
    for state in ("open", "closed", "blocking"):
        ins = str(uuid.uuid4().int % 10**13)
        created = client.post("/fhir/Patient", headers=headers, json={
            "resourceType": "Patient", "identifier": [{"system": INS, "value": ins}], "name": [{"family": family}]})
        assert created.status_code == 201
        patient_id = created.get_json()["id"]
        fields = {"open": {"state": "open"}, "closed": {"state": "closed"},
                  "blocking": {"state": "open", "blocked": [PRACTITIONER]}}[state]
        db["records"].update_one({"_id": patient_id}, {"$set": fields}, upsert=True)
        made[state] = ins
    return made


def found(client, headers, query: str) -> int:
    answer = client.get(f"/fhir/Patient?{query}", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["total"]


def test_a_search_with_few_matches_reads_their_records_by_id(mongodb_path):
    client, headers, db, commands = mongodb_path
    ins = patients(client, headers, db, f"Few{uuid.uuid4().hex[:6]}")
    with commands.labelled("by INS"):
        totals = {state: found(client, headers, f"identifier={INS}|{value}") for state, value in ins.items()}
    assert totals == {"open": 1, "closed": 0, "blocking": 0}
    records = [c for c in commands.sent["by INS"] if c.collection == "records"]
    assert records and all(set(f) == {"_id"} for c in records for f in c.filters)  # never the scan


def test_a_search_with_many_matches_still_leaves_out_what_the_rules_refuse(mongodb_path, monkeypatch):
    client, headers, db, commands = mongodb_path
    family = f"Many{uuid.uuid4().hex[:6]}"
    patients(client, headers, db, family)
    monkeypatch.setattr(resources, "_READ_WHOLE", 2)  # three matches are then "many"
    with commands.labelled("by family"):
        assert found(client, headers, f"family={family}") == 1
    scans = [c for c in commands.sent["by family"] if c.collection == "records" and c.filters and
             "_id" not in c.filters[0]]
    assert scans  # the list of the records closed to the professional


def test_record_data_is_reached_by_its_record(mongodb_path):
    """Record data is sharded on its record (docs/scaling.md): a document's record is entered in the locator
    when it is created (storage/locator.py); a read by id finds it there, then reads the document with its
    record (on its shard alone); a crash after the version was written but before it was projected leaves
    the entry to the journal's recovery; a purge deletes the entry after the document."""
    client, headers, db, commands = mongodb_path
    patient = client.post("/fhir/Patient", headers=headers, json={"resourceType": "Patient", "identifier": [
        {"system": INS, "value": str(uuid.uuid4().int % 10**13)}]}).get_json()["id"]
    record = f"Patient/{patient}"

    def create() -> str:
        answer = client.post("/fhir/DocumentReference", headers=headers, json={
            "resourceType": "DocumentReference", "status": "current", "subject": {"reference": record},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]})
        assert answer.status_code == 201, answer.get_data(as_text=True)
        return answer.get_json()["id"]

    def read(document_id: str) -> int:
        return client.get(f"/fhir/DocumentReference/{document_id}", headers=headers).status_code

    document = create()
    assert db["resource_records"].find_one({"_id": f"DocumentReference/{document}"})["record"] == record
    with commands.labelled("read by id"):
        assert read(document) == 200
    reads = [c for c in commands.sent["read by id"] if c.collection == "DocumentReference"]
    assert reads and all(query.get("x:record") == record for c in reads for query in c.filters)

    crashed = create()  # as a crash after its history insert leaves it: neither entry nor current document
    db["resource_records"].delete_one({"_id": f"DocumentReference/{crashed}"})
    db["DocumentReference"].delete_one({"_id": crashed})
    db["write_journal"].insert_one({"type": "DocumentReference", "rid": crashed})
    assert read(crashed) == 404
    store = ResourceStore(db)
    store.ferretdb, store.postings = False, None
    assert store.recover() >= 1
    assert read(crashed) == 200
    assert db["resource_records"].find_one({"_id": f"DocumentReference/{crashed}"})["record"] == record

    # A database written before the locator was kept: its resources are entered once, at start-up.
    db["resource_records"].delete_many({"_id": {"$in": [f"DocumentReference/{document}", "~built"]}})
    assert read(document) == 404
    assert store.build_locator() >= 1 and read(document) == 200
    assert store.build_locator() == 0  # once per database

    purge(store, [("DocumentReference", document)])
    assert db["resource_records"].find_one({"_id": f"DocumentReference/{document}"}) is None
    assert db["DocumentReference"].find_one({"_id": document}) is None and read(document) == 404


def test_reindex_places_a_legacy_document_where_its_reads_find_it(mongodb_path):
    """A document stored before records were kept has none; `reindex` gives it its record (service/reindex.py),
    and the locator follows (storage/locator.py `moved`), so that a read by id still finds it on its record."""
    client, headers, db, _ = mongodb_path
    patient = client.post("/fhir/Patient", headers=headers, json={"resourceType": "Patient", "identifier": [
        {"system": INS, "value": str(uuid.uuid4().int % 10**13)}]}).get_json()["id"]
    store = ResourceStore(db)
    store.ferretdb, store.postings = False, None
    legacy = {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient}"},
              "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}
    document = str(uuid.uuid4())
    store.write("DocumentReference", document, legacy, 0, "POST", None, index_fields("DocumentReference", legacy))
    assert db["resource_records"].find_one({"_id": f"DocumentReference/{document}"})["record"] is None
    assert reindex(store, ["DocumentReference"])["DocumentReference"] >= 1
    assert db["resource_records"].find_one({"_id": f"DocumentReference/{document}"})["record"] == f"Patient/{patient}"
    assert client.get(f"/fhir/DocumentReference/{document}", headers=headers).status_code == 200
