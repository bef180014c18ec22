"""The local FerretDB: lookups by _id use an SQLite index (see storage/ferretdb.py)."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest


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
