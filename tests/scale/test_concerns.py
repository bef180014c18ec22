"""Read and write concerns (docs/scaling.md, "Replica set"): majority and primary unless set otherwise, on
every command the store sends (those it sends as raw commands too), and accepted by FerretDB."""
from __future__ import annotations

import uuid

import pytest
from pymongo import monitoring

from fhir_server.config import Settings
from fhir_server.storage.mongo import Concerns, connect, write_each

from .capture import Commands


def test_majority_and_primary_by_default(database):
    uri, name = database
    db = connect(uri, name)
    try:
        assert db.client.write_concern.document == {"w": "majority", "wtimeout": 10000}
        assert db.client.read_concern.level == "majority" and db.client.read_preference.mode == 0  # primary
        assert db["Patient"].write_concern.document["w"] == "majority"  # collections inherit them
    finally:
        db.client.close()


def test_the_settings_win_over_the_uri_which_wins_over_the_defaults(monkeypatch):
    with_options = "mongodb://db1.example:27017,db2.example:27017/?replicaSet=rs0&w=1&readConcernLevel=local"
    assert Concerns().options(with_options)["w"] == 1
    assert Concerns().options(with_options)["readConcernLevel"] == "local"
    assert Concerns(write="2", read="majority").options(with_options)["w"] == 2
    # A lower write concern alone lowers the default read concern with it (majority reads would lag its writes).
    assert Concerns(write="1").options("mongodb://db1.example/")["readConcernLevel"] == "local"
    assert Concerns().options("mongodb://db1.example/?w=1")["readConcernLevel"] == "local"
    monkeypatch.setenv("MONGODB_WRITE_CONCERN", "majority")
    monkeypatch.setenv("MONGODB_WRITE_TIMEOUT_MS", "2500")
    monkeypatch.setenv("MONGODB_READ_CONCERN", "local")
    settings = Settings.from_mapping({"mongodb_uri": with_options})
    options = settings.concerns.options(settings.mongodb_uri)
    assert (options["w"], options["wTimeoutMS"], options["readConcernLevel"]) == ("majority", 2500, "local")


def test_only_primary_reads(monkeypatch):
    monkeypatch.setenv("MONGODB_READ_PREFERENCE", "secondaryPreferred")
    with pytest.raises(ValueError, match="primary"):
        Settings.from_mapping()


def test_raw_commands_carry_the_write_concern_and_the_database_accepts_them(database):
    """The store's own `update` commands (write_each: audit links, posting lists) are sent as is, without
    the client's write concern unless they name it."""
    uri, name = database
    commands = Commands(f"{name}_concerns")
    monitoring.register(commands)  # listens to the clients made after it
    db = connect(uri, f"{name}_concerns")
    try:
        with commands.labelled("write_each"):
            doc_id = uuid.uuid4().hex
            head = ({"_id": "head"}, {"$max": {"n": 1}}, True)
            assert write_each(db["concerns"], [{"_id": doc_id, "n": 1}], [head]) == set()
            assert db["concerns"].find_one({"_id": doc_id}) == {"_id": doc_id, "n": 1}
        sent = [s for s in commands.sent["write_each"] if s.command == "update"]
        assert sent and all(s.write_concern == {"w": "majority", "wtimeout": 10000} for s in sent)
    finally:
        commands.label = None
        db.client.drop_database(db.name)
        db.client.close()
