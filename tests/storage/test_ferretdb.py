"""The local FerretDB: lookups by _id use an SQLite index (see storage/ferretdb.py); large updates are answered."""
from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

import pymongo
import pytest

from fhir_server.storage.mongo import update_each, write_each


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
        update_each(collection, [({"_id": key}, {"$max": {"last": 1}}) for key in keys], upsert=True)
        update_each(collection, [({"_id": key}, {"$max": {"last": 2}}) for key in keys], upsert=True)
        assert sorted(d["last"] for d in collection.find({})) == [2] * 250
        collection.drop()
    finally:
        client.close()


def test_write_each_inserts_what_is_free_and_reports_what_is_taken(database):
    """Inserts by upsert share a command with updates; a position held by another writer is reported, and
    kept as that writer wrote it. A duplicate key error (here from a unique field) leaves FerretDB's reply
    without what was inserted: every doc is then read back, every update run again alone."""
    uri, name = database
    with pymongo.MongoClient(uri) as client:
        collection = client[name][f"write_each_{uuid.uuid4().hex[:8]}"]
        collection.create_index("u", unique=True)
        collection.insert_many([{"_id": "held", "v": "theirs"}, {"_id": "other", "u": 1}])
        taken = write_each(collection, [{"_id": "held", "v": "mine"}, {"_id": "free", "v": "mine"}],
                           [({"_id": "head"}, {"$max": {"last": 2}}, True)])
        assert taken == {0}
        assert collection.find_one({"_id": "held"})["v"] == "theirs"
        assert collection.find_one({"_id": "free"})["v"] == "mine"
        docs = [{"_id": "clash", "u": 1}, {"_id": "fine", "u": 2}, {"_id": "free", "v": "mine"}]
        taken = write_each(collection, docs, [({"_id": "head"}, {"$max": {"last": 5}}, True),
                                              ({"_id": "old"}, {"moved": True}, False)])
        # "free" holds what this writer would have written: as good as its own. FerretDB may stop at the error
        # (then "fine" was not inserted, and is reported so: the caller tries it again).
        assert 0 in taken and 2 not in taken
        for index, doc in enumerate(docs):
            assert (collection.find_one({"_id": doc["_id"]}) == doc) is (index not in taken)
        assert collection.find_one({"_id": "head"})["last"] == 5 and collection.find_one({"_id": "old"}) is None
