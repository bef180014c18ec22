"""A professional's search that names no patient judges only the records its candidates are in: it never scans
the records collection (one document per patient), and the record's rules still hold."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pymongo import monitoring

from fhir_server import create_app
from fhir_server.storage import mongo, resources
from fhir_server.storage.matcher import Unsupported
from fhir_server.storage.records import Records

from ..conftest import app_client

INS = "urn:oid:1.2.250.1.213.1.4.8"
DOCTOR = "810000000001"  # the professional app_client's software acts for


class Finds(monitoring.CommandListener):
    def __init__(self) -> None:
        self.filters: list[tuple[str, dict]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.filters.append((event.command["find"], event.command.get("filter", {})))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@pytest.fixture()
def watched(database, monkeypatch):
    """(app, the finds its database received) for an app whose database calls are watched."""
    finds, connect = Finds(), mongo.connect

    def watched_connect(uri: str, name: str, concerns=None):
        db = connect(uri, name, concerns)
        return type(db.client)(uri, tz_aware=True, event_listeners=[finds])[name]
    monkeypatch.setattr(mongo, "connect", watched_connect)
    uri, name = database
    return create_app({"mongodb_uri": uri, "database_name": name}), finds


@pytest.mark.parametrize("in_hand", ["tested in hand", "tested by the database"])
def test_a_search_by_ins_reads_only_its_candidates_record(watched, db, monkeypatch, in_hand):
    """The candidates, read whole once, are held to the record's rules by storage/matcher.py, or by the database
    when a condition is one the matcher does not decide: the same answers either way."""
    if in_hand == "tested by the database":
        def undecided(doc: dict, query: dict) -> bool:
            raise Unsupported("left to the database")
        monkeypatch.setattr(resources, "meets", undecided)
    app, finds = watched
    client, token = app_client(app)
    ins = f"{uuid.uuid4().int % 10**13:013d}"
    created = client.post("/fhir/Patient", json={"resourceType": "Patient", "identifier": [
        {"system": INS, "value": ins}]}, headers=token)
    assert created.status_code == 201
    patient_id = created.get_json()["id"]

    def found() -> int:
        finds.filters.clear()
        answer = client.get(f"/fhir/Patient?identifier={INS}|{ins}", headers=token)
        assert answer.status_code == 200
        scans = [f for collection, f in finds.filters if collection == "records" and list(f) != ["_id"]]
        assert scans == []  # FerretDB: its candidates' records; MongoDB: its few matches' (storage/resources.py)
        return answer.get_json()["total"]
    assert found() == 1
    records, now = Records(db), datetime.now(timezone.utc)
    records.set_rules(patient_id, now, blocked=[DOCTOR], unreadable=[], no_emergency=False, no_feeding=False)
    assert found() == 0  # blocked: as if there were no such patient
    records.set_rules(patient_id, now, blocked=[], unreadable=[], no_emergency=False, no_feeding=False)
    assert found() == 1
    records.close(patient_id, now, now + timedelta(days=3650))
    assert found() == 0  # closed
