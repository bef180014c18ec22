"""The local FerretDB: lookups by _id use an SQLite index (see storage/ferretdb.py); large updates are answered."""
from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

import pymongo
import pytest

from fhir_server.storage.mongo import update_each


@pytest.mark.skipif(bool(os.environ.get("MONGODB_URI")), reason="checks the local FerretDB's SQLite files")
def test_every_collection_table_has_an_index_for_lookups_by_id(server, database):
    _uri, name = database
    path = Path(os.environ["FERRETDB_SQLITE_DIR"]) / f"{name}.sqlite"
    connection = sqlite3.connect(path)
    try:
        tables = dict(connection.execute("SELECT name, table_name FROM _ferretdb_collections"))
        assert {"Patient", "DocumentReference", "history", "write_journal", "binary.chunks"} <= set(tables)
        for collection, table in tables.items():
            plan = connection.execute(f"EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM \"{table}\" "
                                      "WHERE _ferretdb_sjson->'$._id' = ?", ('"x"',)).fetchall()
            assert "USING INDEX" in plan[0][-1], f"{collection}: {plan}"
    finally:
        connection.close()


@pytest.mark.skipif(bool(os.environ.get("MONGODB_URI")), reason="starts a local FerretDB")
def test_the_sqlite_sync_level_is_full_unless_normal_is_asked(tmp_path, monkeypatch):
    from fhir_server.storage.ferretdb import LocalFerretDB
    monkeypatch.delenv("FHIR_SQLITE_SYNCHRONOUS", raising=False)
    assert LocalFerretDB(tmp_path / "a").synchronous == "full"
    with pytest.raises(ValueError, match="FHIR_SQLITE_SYNCHRONOUS"):
        LocalFerretDB(tmp_path / "b", synchronous="off")  # off could corrupt the database on a crash
    monkeypatch.setenv("FHIR_SQLITE_SYNCHRONOUS", "normal")
    with LocalFerretDB(tmp_path / "c") as database:
        assert database.synchronous == "normal"
        with pymongo.MongoClient(database.uri) as client:
            client.test.kept.insert_one({"_id": "x"})
            assert client.test.kept.find_one({"_id": "x"}) == {"_id": "x"}


def test_updates_of_many_existing_documents_are_answered(database):
    """FerretDB v1.24 stops answering (every client) once one update command changes 100 existing documents or
    more: `update_each` sends them in smaller commands. A timeout fails the test rather than hanging it."""
    uri, name = database
    client = pymongo.MongoClient(uri, socketTimeoutMS=60_000)
    try:
        collection = client[name][f"update_each_{uuid.uuid4().hex[:8]}"]
        keys = [f"key-{n}" for n in range(250)]
        assert update_each(collection, [({"_id": key}, {"$max": {"last": 1}}) for key in keys], upsert=True) == set()
        assert update_each(collection, [({"_id": key}, {"$max": {"last": 2}}) for key in keys], upsert=True) == set()
        assert sorted(d["last"] for d in collection.find({})) == [2] * 250
        collection.drop()
    finally:
        client.close()
