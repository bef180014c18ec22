"""docs/scaling.md's sharding plan held to the code: the collections it creates and uses, their unique
indexes, and the database commands each interaction sends (captured with pymongo command monitoring on an
app run in this process), routed by the shard keys the plan declares.

The commands are those of the MongoDB code path (the store's FerretDB-only posting lists off: a sharded
cluster is MongoDB); the collections and indexes, those `create_app` makes. A new collection, a new unique
index, or a query that reaches every shard where the plan says it is targeted (or the reverse) fails here
until docs/scaling.md says so.
"""
from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from pymongo import monitoring

from fhir_server import create_app
from fhir_server.auth.backend_client import register_in_process
from fhir_server.storage.postings import RECORD
from tests.conftest import REPO_ROOT

from .capture import Commands, Sent

PLAN = REPO_ROOT / "docs" / "scaling.md"
JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
INS = "urn:oid:1.2.250.1.213.1.4.8"
UNSHARDED = "unsharded"


def table(marker: str) -> list[list[str]]:
    """The rows of the markdown table between `<!-- marker -->` and `<!-- /marker -->` in the plan."""
    text = PLAN.read_text(encoding="utf-8")
    body = text.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in body.strip().splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row] for row in rows[2:]]  # past the header and its rule


def names(cell: str) -> list[str]:
    """The `code` spans of a cell (collection names, fields)."""
    return re.findall(r"`([^`]+)`", cell)


def shard_plan() -> dict[str, dict]:
    """collection -> {key: [fields] or [] when unsharded, ferretdb: whether only FerretDB has it, unique: [...]}"""
    plan = {}
    for collection, key, kind, unique, *_ in table("shard-plan"):
        for name in names(collection):
            plan[name] = {"key": [] if key == UNSHARDED else names(key), "kind": kind,
                          "unique": [tuple(names(index)) for index in unique.split(";") if names(index)]}
    return plan


def routing_plan() -> dict[str, tuple[set[str], set[str]]]:
    """interaction -> (collections reached on one shard, collections whose commands reach every shard)"""
    return {interaction: (set(names(targeted)), set(names(broadcast)))
            for interaction, targeted, broadcast, *_ in table("query-plan")}


def costs() -> dict[str, int]:
    """interaction -> the commands it sends at most, as the query plan says"""
    return {interaction: int(commands) for interaction, _, _, commands in table("query-plan")}


def counted(commands: list[Sent]) -> int:
    """An interaction's commands but those that fall in it by the clock: the removal of finished journal
    entries (a background thread) and each worker's reading of revocations and clients' statuses (every
    FHIR_TOKEN_RECHECK_SECONDS)."""
    return len([c for c in commands if not (c.collection == "write_journal" and c.command == "delete")
                and c.collection not in ("oauth_revoked", "oauth_clients")])


def equality(value) -> bool:
    return not isinstance(value, dict) or set(value) <= {"$eq", "$in"}  # `$in: []`: no shard at all


def pinned(query: dict, field: str) -> bool:
    """Whether the filter holds `field` to one or a few values (equality or `$in`), at its top or in a
    conjunct of its `$and`, as MongoDB's router reads it."""
    if field in query and equality(query[field]):
        return True
    return any(isinstance(part, dict) and pinned(part, field) for part in query.get("$and", []))


def targeted(sent: Sent, key: list[str]) -> bool:
    """Whether MongoDB routes this command to the shards holding its documents rather than to every shard:
    each filter (each statement's) pins the shard key's first field (a compound key's prefix routes too);
    an insert always is."""
    if not key or sent.command == "insert":
        return True
    return bool(sent.filters) and all(pinned(query, key[0]) for query in sent.filters)


@pytest.fixture(scope="module")
def captured(database, tmp_path_factory):
    """(the commands of each interaction, the collections and indexes of the database) on a fresh database."""
    uri, name = database[0], f"{database[1]}_plan"
    commands = Commands(name)
    monitoring.register(commands)
    app = create_app({"mongodb_uri": uri, "database_name": name})
    store = app.extensions["fhir"].store
    store.ferretdb, store.postings = False, None  # the MongoDB code path (its indexes, no posting lists)
    client = app.test_client()
    software = register_in_process(app, client, "Sharding plan", ["system/*.cruds"])
    with commands.labelled("token"):
        headers = {**JSON, **software.headers()}
    run = Interactions(client, headers)
    for label, interaction in run.all():
        with commands.labelled(label):
            interaction()
    db = store.db
    indexes = {collection: db[collection].index_information() for collection in db.list_collection_names()}
    yield commands.sent, indexes
    commands.label = None
    db.client.drop_database(name)


class Interactions:
    """The representative interactions: each a call asserting its answer."""

    def __init__(self, client, headers: dict) -> None:
        self.client, self.headers = client, headers
        self.ins = str(uuid.uuid4().int % 10**13)

    def call(self, method: str, path: str, expected: int, body=None, **headers) -> dict:
        answer = self.client.open(path, method=method, json=body, headers={**self.headers, **headers})
        assert answer.status_code == expected, (path, answer.status_code, answer.get_data(as_text=True)[:500])
        return answer.get_json(silent=True) or {}

    def all(self):
        return [("create Patient", self.create_patient), ("create Binary", self.create_binary),
                ("create DocumentReference", self.create_document), ("read Patient", self.read_patient),
                ("read DocumentReference", self.read_document), ("vread DocumentReference", self.vread_document),
                ("read Binary", self.read_binary), ("update DocumentReference", self.update_document),
                ("search DocumentReference?patient=", self.documents_of_patient),
                ("search Patient?identifier=", self.patient_by_ins),
                ("history DocumentReference/id", self.document_history), ("transaction", self.transaction)]

    def create_patient(self) -> None:
        self.patient = self.call("POST", "/fhir/Patient", 201, {
            "resourceType": "Patient", "identifier": [{"system": INS, "value": self.ins}], "birthDate": "1980-04-12"})

    def create_binary(self) -> None:
        self.binary = self.call("POST", "/fhir/Binary", 201, {
            "resourceType": "Binary", "contentType": "text/plain", "data": "eA==",
            "securityContext": {"reference": f"Patient/{self.patient['id']}"}})

    def create_document(self) -> None:
        self.document = self.call("POST", "/fhir/DocumentReference", 201, self._document())

    def _document(self) -> dict:
        return {"resourceType": "DocumentReference", "status": "current",
                "subject": {"reference": f"Patient/{self.patient['id']}"},
                "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{self.binary['id']}"}}]}

    def read_patient(self) -> None:
        self.call("GET", f"/fhir/Patient/{self.patient['id']}", 200)

    def read_document(self) -> None:
        self.call("GET", f"/fhir/DocumentReference/{self.document['id']}", 200)

    def vread_document(self) -> None:
        self.call("GET", f"/fhir/DocumentReference/{self.document['id']}/_history/1", 200)

    def read_binary(self) -> None:
        self.call("GET", f"/fhir/Binary/{self.binary['id']}", 200, Accept="text/plain")

    def update_document(self) -> None:
        self.call("PUT", f"/fhir/DocumentReference/{self.document['id']}", 200,
                  {**self._document(), "id": self.document["id"], "description": "v2"}, **{"If-Match": 'W/"1"'})

    def documents_of_patient(self) -> None:
        assert self.call("GET", f"/fhir/DocumentReference?patient={self.patient['id']}", 200)["total"] == 1

    def patient_by_ins(self) -> None:
        assert self.call("GET", f"/fhir/Patient?identifier={INS}|{self.ins}", 200)["total"] == 1

    def document_history(self) -> None:
        assert self.call("GET", f"/fhir/DocumentReference/{self.document['id']}/_history", 200)["total"] == 2

    def transaction(self) -> None:
        self.call("POST", "/fhir", 200, {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {**self._document(), "description": "in a Bundle"},
             "request": {"method": "POST", "url": "DocumentReference"}},
            {"resource": {**self.patient, "gender": "female"},
             "request": {"method": "PUT", "url": f"Patient/{self.patient['id']}"}}]})


def test_every_collection_the_code_uses_is_in_the_plan(captured):
    sent, indexes = captured
    used = set(indexes) | {s.collection for commands in sent.values() for s in commands}
    plan = shard_plan()
    assert sorted(used - set(plan)) == [], "collections missing from docs/scaling.md"
    assert sorted(set(plan) - used) == [], "collections in docs/scaling.md the code no longer has"


def test_every_unique_index_is_declared_and_starts_with_the_shard_key(captured):
    _, indexes = captured
    plan = shard_plan()
    for collection, index_information in indexes.items():
        unique = {tuple(field for field, _ in index["key"]) for name, index in index_information.items()
                  if index.get("unique") and name != "_id_"}
        assert unique == set(plan[collection]["unique"]), collection
        key = plan[collection]["key"]
        for fields in unique:  # unique across shards only when it starts with the shard key (or none is)
            assert not key or list(fields[:len(key)]) == key, (collection, fields, key)


def test_the_shard_key_is_in_every_document_and_every_upsert_filter(captured):
    """MongoDB wants the shard key in each upsert's filter (else the upsert is refused on a sharded
    collection), and documents without it all land in one chunk. A resource in no record has no `x:record`
    (MongoDB reads it as null): its documents are split on the key's next field, `_id`."""
    sent, _ = captured
    plan = shard_plan()
    for label, commands in sent.items():
        for command in commands:
            key = plan[command.collection]["key"]
            for doc in command.documents:
                assert all(field in doc for field in key if field not in ("_id", RECORD)), \
                    (label, command.collection, key)
                assert key[-1:] == ["_id"] or all(field in doc for field in key), (label, command.collection, key)
            for upsert in command.upserts:
                assert all(pinned(upsert["q"], field) for field in key), \
                    (label, command.collection, upsert["q"], key)


def test_each_interaction_reaches_the_shards_the_plan_says(captured):
    sent, _ = captured
    plan, routes = shard_plan(), routing_plan()
    assert set(sent) == set(routes), "interactions of docs/scaling.md's query plan"
    for label, commands in sent.items():
        declared_targeted, declared_broadcast = routes[label]
        broadcast = {c.collection for c in commands if not targeted(c, plan[c.collection]["key"])}
        reached = {c.collection for c in commands if targeted(c, plan[c.collection]["key"])}
        assert broadcast == declared_broadcast, (label, "reach every shard", sorted(broadcast))
        journal = {c for c in reached if plan[c]["kind"] == "journal"}  # its clean-up runs in the background
        assert reached - journal <= declared_targeted | declared_broadcast, (
            label, "not in the plan", sorted(reached - journal - declared_targeted))


def test_each_interaction_costs_at_most_the_commands_the_plan_says(captured):
    sent, _ = captured
    declared = costs()
    assert {label: counted(commands) for label, commands in sent.items() if counted(commands) > declared[label]} \
        == {}, "more commands than docs/scaling.md says (its query plan's last column)"


def test_reads_by_id_and_the_audit_trail_never_reach_every_shard(captured):
    """The hot paths by their key: a read, a vread and an instance history of record data, a Patient's
    creation, and in every interaction the audit trail (the AuditEvent, its version, its chain's link) each
    reach only the shards holding what they read or write."""
    sent, _ = captured
    plan = shard_plan()
    for label in ("create Patient", "read Patient", "read DocumentReference", "vread DocumentReference",
                  "history DocumentReference/id"):
        assert [c for c in sent[label] if not targeted(c, plan[c.collection]["key"])] == [], label
    for label, commands in sent.items():
        trail = [c for c in commands if c.collection in ("AuditEvent", "audit_chain")]
        assert label == "token" or trail, (label, "writes no AuditEvent")
        assert all(targeted(c, plan[c.collection]["key"]) for c in trail), label
        assert all(targeted(c, plan["history"]["key"]) for c in commands if c.collection == "history"), label
