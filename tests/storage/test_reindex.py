"""`fhir-server reindex`: a database written before a change in indexing (here: without the `_lastUpdated`
fields, with a stale family text and without a document's patient reference) is found by searches again once
reindexed, who wrote each resource is kept, and a second run has nothing left to change."""
from __future__ import annotations

import uuid

import pytest
import requests
from pymongo.collection import Collection

from fhir_server.auth.backend_client import register
from fhir_server.service.reindex import reindex
from fhir_server.service.resources import search_index
from fhir_server.storage.resources import ResourceStore
from fhir_server.storage.transactions import Write
from tests.access.test_record_rules import cli
from tests.api.client import LOINC, post, search
from tests.conftest import own_server

STALE = {"$unset": {"dl:_lastUpdated": "", "dh:_lastUpdated": "", "r:patient": "", "r:subject": ""},
         "$set": {"s:family": ["stale"], "x:writer": "810000000042"}}


@pytest.fixture(scope="module")
def own(database, tmp_path_factory):
    """A database of this module's own, served: reindexing the session's whole database would test its size.
    (database (uri, name), pymongo database, server base URL, a session of software allowed everything)."""
    with own_server(database, tmp_path_factory.mktemp("reindex"), "reindex") as served:
        yield served


def documents(db, resource_type: str, resource_id: str) -> list[tuple[Collection, dict]]:
    """(collection, document) of the current document and of every history version of a resource."""
    return [(db[resource_type], db[resource_type].find_one({"_id": resource_id})),
            *((db["history"], doc) for doc in db["history"].find({"type": resource_type, "rid": resource_id}))]


def found(http, base, resource_type: str, resource_id: str, **params: str) -> bool:
    bundle = search(http, base, resource_type, {"_id": resource_id, **params})
    return [e["resource"]["id"] for e in bundle.get("entry", [])] == [resource_id]


def test_reindex_gives_an_older_database_the_fields_searches_need(own):
    database, db, base, http = own
    family = f"Reindex{uuid.uuid4().hex[:10]}"
    patient = post(http, base, {"resourceType": "Patient", "name": [{"family": family}]})
    assert http.put(f"{base}/Patient/{patient['id']}", json={**patient, "gender": "female"}).status_code == 200
    document = post(http, base, {
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient['id']}"},
        "type": {"coding": [{"system": LOINC, "code": "11488-4"}]},
        "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]})
    for resource_type, resource_id in (("Patient", patient["id"]), ("DocumentReference", document["id"])):
        for collection, doc in documents(db, resource_type, resource_id):
            collection.update_one({"_id": doc["_id"]}, STALE)
    searches = [("Patient", patient["id"], {"_lastUpdated": "ge2000-01-01"}),
                ("Patient", patient["id"], {"family": family}),
                ("DocumentReference", document["id"], {"patient": patient["id"]})]
    assert not any(found(http, base, kind, rid, **params) for kind, rid, params in searches)

    ran = cli(database, "reindex", "--type", "Patient", "--type", "DocumentReference")
    assert ran.returncode == 0, ran.stderr
    counts = dict(line.split(": ") for line in ran.stdout.splitlines())
    assert counts == {"Patient": "3 documents reindexed", "DocumentReference": "2 documents reindexed"}
    assert all(found(http, base, kind, rid, **params) for kind, rid, params in searches)
    for resource_type, resource_id in (("Patient", patient["id"]), ("DocumentReference", document["id"])):
        for _, doc in documents(db, resource_type, resource_id):
            assert doc["x:writer"] == "810000000042"  # not in the resource: kept
            if not doc["deleted"]:
                assert doc["dl:_lastUpdated"] == doc["dh:_lastUpdated"] and doc["dl:_lastUpdated"].startswith("20")
    assert [doc["s:family"] for _, doc in documents(db, "Patient", patient["id"])] == [[family.lower()]] * 3

    again = cli(database, "reindex")  # every type
    assert again.returncode == 0, again.stderr
    assert "Patient: 0 documents reindexed" in again.stdout.splitlines()
    assert all(line.endswith(": 0 documents reindexed") for line in again.stdout.splitlines()), again.stdout


def test_reindex_leaves_a_transactions_version_to_its_writer_and_keeps_the_latest_version_current(own):
    _, db, base, http = own
    store = ResourceStore(db)
    racing, pending = (post(http, base, {"resourceType": "Patient", "name": [{"family": f"Race{n}"}]}) for n in (1, 2))
    # A write racing the reindex: its version 2 is in the history, the current document still holds version 1.
    newer = {**racing, "gender": "male"}
    store.reserve(Write("Patient", racing["id"], newer, 1, "PUT", None, search_index("Patient", newer)))
    db["Patient"].update_one({"_id": racing["id"]}, STALE)
    # A transaction under way reserved version 2 of the other: its writer indexes and updates it.
    changed = {**pending, "gender": "female"}
    reserved = store.reserve(Write("Patient", pending["id"], changed, 1, "PUT", None, {}), tx="under-way")
    try:
        assert reindex(store, ["Patient"])["Patient"] >= 1
        current = db["Patient"].find_one({"_id": racing["id"]})
        assert current["vid"] == 2 and "male" in current["t:gender"] and "dl:_lastUpdated" in current
        assert "t:gender" not in db["history"].find_one({"_id": reserved.doc["_id"]})  # left as it was
    finally:
        db["history"].delete_one({"_id": reserved.doc["_id"]})


def test_reindex_refuses_a_type_the_server_does_not_store(database):
    ran = cli(database, "reindex", "--type", "Spaceship")
    assert ran.returncode == 2 and "Spaceship" in ran.stderr


def test_reindex_places_resources_written_before_records_were_kept_in_their_record(own):
    """A document and its Binary stored without their record (as a server before records were kept wrote them)
    are seen by their writer only; reindexing places them in their patient's record, and other professionals
    read them again. A document naming a patient no one holds stays out of every record."""
    database, db, base, http = own
    store = ResourceStore(db)
    reader = register(db, base.removesuffix("/fhir"), "Another practice", ["system/*.cruds"],
                      professional={"practitioner": "810000000777", "profession": "10"})
    patient = post(http, base, {"resourceType": "Patient", "identifier": [
        {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": str(uuid.uuid4().int % 10**13)}]})
    binary_id, document_id, orphan_id = (f"legacy-{uuid.uuid4().hex}" for _ in range(3))
    binary = {"resourceType": "Binary", "contentType": "text/plain"}
    document = {"resourceType": "DocumentReference", "status": "current",
                "subject": {"identifier": patient["identifier"][0]},
                "type": {"coding": [{"system": LOINC, "code": "11488-4"}]},
                "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{binary_id}"}}]}
    orphan = {**document, "subject": {"reference": "Patient/nobody-holds-this"}}
    store.write("Binary", binary_id, binary, 0, "POST", b"legacy report", {"x:writer": "810000000001"})
    for resource_id, resource in ((document_id, document), (orphan_id, orphan)):
        store.write("DocumentReference", resource_id, resource, 0, "POST", None,
                    {**search_index("DocumentReference", resource), "x:writer": "810000000001"})
    headers = {**reader.headers(), "Accept": "application/fhir+json"}
    urls = (f"{base}/DocumentReference/{document_id}", f"{base}/Binary/{binary_id}")
    assert [requests.get(url, headers=headers).status_code for url in urls] == [404, 404]  # no record: writer's
    assert all(http.get(url).status_code == 200 for url in urls)

    ran = cli(database, "reindex", "--type", "DocumentReference", "--type", "Binary")
    assert ran.returncode == 0, ran.stderr
    assert db["Binary"].find_one({"_id": binary_id}).get("x:record") == f"Patient/{patient['id']}", ran.stdout
    assert [requests.get(url, headers=headers).status_code for url in urls] == [200, 200]
    assert "x:record" not in db["DocumentReference"].find_one({"_id": orphan_id})
    assert requests.get(f"{base}/DocumentReference/{orphan_id}", headers=headers).status_code == 404
    found = requests.get(f"{base}/DocumentReference", headers=headers, params={"patient": patient["id"]}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [document_id]
