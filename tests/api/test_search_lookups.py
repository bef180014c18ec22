"""The lookups practitioners' and hospital software run, over HTTP: a patient by traits (family, given, birth
date: how an identity is checked while the INS is not qualified), by name prefix, a patient's documents by
category, status and dates, a professional's documents by author; each answers exactly the right resources
(accents, case, prefixes), the record's rules still leave out what a caller may not see, and, in process,
every one of them reads the database by `_id` only (FerretDB scans for any other filter)."""
from __future__ import annotations

import random
import string
import uuid
from urllib.parse import urlencode

import pymongo
import pytest
import requests
from pymongo import monitoring

from fhir_server import create_app
from fhir_server.auth.clients import ClientRegistry
from fhir_server.registry import RESOURCES
from fhir_server.storage.mongo import HISTORY, POSTING_HEADS, POSTINGS, RECORDS
from tests.conftest import app_client

from ..access.test_record_rules import SCOPES, consent, patient_session, professional
from ..auth.test_patients import REDIRECT, activated
from .client import HEADERS, JSON, post, search

RPPS = "urn:oid:1.2.250.1.71.4.2.1"
GROWING = {*RESOURCES, HISTORY, POSTINGS, POSTING_HEADS, RECORDS}
CLASS = "urn:oid:1.2.250.1.213.1.1.4.1"


def letters(n: int) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=n))


def ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def person(family: str, given: list[str], born: str) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family, "given": given}], "birthDate": born,
            "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": str(uuid.uuid4().int % 10**13)}]}


def document(patient_id: str, author: dict, category: str, status: str, date: str) -> dict:
    return {"resourceType": "DocumentReference", "status": status, "subject": {"reference": f"Patient/{patient_id}"},
            "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
            "category": [{"coding": [{"system": CLASS, "code": category}]}], "date": date, "author": [author],
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}


@pytest.fixture(scope="module")
def people(vendor, base):
    """Patients sharing a made-up family stem `tag` (accented, compound, or inside another name) and birth
    days; two practitioners and their documents, and one document whose author is a logical reference."""
    tag = letters(7)
    stem = tag.capitalize()
    with_vendor = requests.Session()
    with_vendor.headers.update(vendor.headers())
    made = {
        "A": person(f"{stem}ère", ["Hélène"], "1961-07-14"),
        "B": person(f"{stem}ere-Morin", ["Helena"], "1961-07-14"),
        "C": person(f"{stem}ère", ["Hélène"], "1961-07-15"),
        "D": person(f"Le{stem}", ["Hélène"], "1961-07-14"),
        "E": person(f"{stem.upper()}ERE", ["Paul", "HÉLÈNE"], "1961-07-14"),
    }
    patients = {key: post(with_vendor, base, resource)["id"] for key, resource in made.items()}
    rpps = [str(uuid.uuid4().int % 10**11) for _ in range(3)]
    practitioners = [post(with_vendor, base, {"resourceType": "Practitioner", "identifier": [
        {"system": RPPS, "value": value}]})["id"] for value in rpps[:2]]
    first, second = ({"reference": f"Practitioner/{p}"} for p in practitioners)
    logical = {"type": "Practitioner", "identifier": {"system": RPPS, "value": rpps[2]}}
    documents = [post(with_vendor, base, document(*args))["id"] for args in (
        (patients["A"], first, "10", "current", "2024-01-10T09:00:00Z"),
        (patients["A"], second, "60", "superseded", "2024-03-05T09:00:00Z"),
        (patients["B"], first, "10", "current", "2023-12-31T23:00:00Z"),
        (patients["A"], logical, "11", "current", "2024-01-20T09:00:00Z"))]
    yield {"tag": tag, "patients": patients, "rpps": rpps, "practitioners": practitioners, "documents": documents}
    with_vendor.close()


@pytest.mark.parametrize("params, expected", [
    ({"family": "{TAG}ERE", "given": "HELENE", "birthdate": "1961-07-14"}, "AE"),  # as INS traits are written
    ({"family": "{tag}ère", "given": "hél", "birthdate": "1961-07-14"}, "ABE"),
    ({"family": "{Tag}Ère", "given": "Hélène", "birthdate": "eq1961-07-15"}, "C"),
    ({"family": "{tag}ere-m", "birthdate": "1961-07"}, "B"),
    ({"name": "{tag}"}, "ABCE"),  # every name part: family, given...
    ({"name": "{TAG}"[:3] + "{tag}"[3:5].upper()}, "ABCE"),
    ({"name": "le{tag}"}, "D"),
    ({"given": "paul", "family": "{tag}"}, "E"),
    ({"family": "{tag}ère", "given": "helene", "birthdate": "1961-07-16"}, ""),
])
def test_patients_by_traits_and_name_prefix(http, base, people, params, expected):
    tag = people["tag"]
    values = {name: value.format(tag=tag, TAG=tag.upper(), Tag=tag.capitalize()) for name, value in params.items()}
    bundle = search(http, base, "Patient", values)
    assert sorted(ids(bundle)) == sorted(people["patients"][key] for key in expected)
    assert bundle["total"] == len(expected)


def test_a_professionals_documents_by_author(http, base, people):
    d = people["documents"]
    first, second, logical = people["rpps"]
    newest_first = search(http, base, "DocumentReference", {"author.identifier": f"{RPPS}|{first}", "_sort": "-date"})
    assert ids(newest_first) == [d[0], d[2]] and newest_first["total"] == 2
    typed = search(http, base, "DocumentReference", {"author:Practitioner.identifier": f"{RPPS}|{second}"})
    assert ids(typed) == [d[1]]
    assert ids(search(http, base, "DocumentReference",
                      {"author": f"Practitioner/{people['practitioners'][1]}"})) == [d[1]]
    assert ids(search(http, base, "DocumentReference", {"author:identifier": f"{RPPS}|{logical}"})) == [d[3]]
    nobody = search(http, base, "DocumentReference", {"author.identifier": f"{RPPS}|{uuid.uuid4().hex}"})
    assert nobody["total"] == 0 and not ids(nobody)


@pytest.mark.parametrize("params, expected", [
    ({"category": f"{CLASS}|10"}, [0]),
    ({"status": "superseded"}, [1]),
    ({"status": "current", "_sort": "-date"}, [3, 0]),
    ([("date", "ge2024-01-01"), ("date", "lt2024-02-01"), ("_sort", "date")], [0, 3]),
])
def test_a_patients_documents_by_category_status_and_dates(http, base, people, params, expected):
    items = list(params.items()) if isinstance(params, dict) else params
    bundle = search(http, base, "DocumentReference", [("patient", people["patients"]["A"]), *items])
    assert ids(bundle) == [people["documents"][n] for n in expected]


@pytest.fixture(scope="module")
def owners_app(db):
    return ClientRegistry(db).add_public("Patient app (lookups)", [REDIRECT], [SCOPES])


def test_the_records_rules_still_apply(http, base, database, db, owners_app):
    """A patient who blocked a professional, and a closed record, are left out of the lookups (and of their
    totals) as before; another professional still finds the first; an open record is found by both."""
    stem, rpps = letters(7).capitalize(), str(uuid.uuid4().int % 10**11)
    practitioner = post(http, base, {"resourceType": "Practitioner", "identifier": [{"system": RPPS, "value": rpps}]})
    author = {"reference": f"Practitioner/{practitioner['id']}"}
    (blocked, blocked_ins), (closed, closed_ins), (control, _) = (activated(http, base, database) for _ in range(3))
    documents = {}
    for patient_id in (blocked, closed, control):
        current = http.get(f"{base}/Patient/{patient_id}", headers={"Accept": JSON}).json()
        named = {**current, "name": [{"family": f"{stem}ère", "given": ["Zoé"]}]}
        assert http.put(f"{base}/Patient/{patient_id}", json=named, headers=HEADERS).status_code == 200
        documents[patient_id] = post(http, base, document(patient_id, author, "10", "current",
                                                          "2024-02-01T09:00:00Z"))["id"]
    excluded, other = professional(db, base, "10"), professional(db, base, "10")
    app = owners_app.client_id
    consent(patient_session(base, app, blocked_ins), base, blocked, {"actor": [
        {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
         "reference": {"identifier": {"system": RPPS, "value": excluded.rpps}}}]})
    owner = patient_session(base, app, closed_ins)
    assert owner.post(f"{base}/Patient/{closed}/$close-record").status_code == 200
    traits = {"family": f"{stem.upper()}ERE", "given": "ZOE", "birthdate": "1980-04-12"}
    for reader, shown in ((excluded, [control]), (other, [control, blocked])):
        for params in (traits, {"name": stem[:4]}):
            bundle = search(reader, base, "Patient", params)
            assert sorted(ids(bundle)) == sorted(shown) and bundle["total"] == len(shown)
        bundle = search(reader, base, "DocumentReference", {"author.identifier": f"{RPPS}|{rpps}"})
        assert sorted(ids(bundle)) == sorted(documents[p] for p in shown) and bundle["total"] == len(shown)


class Reads(monitoring.CommandListener):
    """The reads sent while `on`: (command, collection, filter or first `$match`)."""

    def __init__(self) -> None:
        self.on, self.seen = False, []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on and event.command_name in ("find", "aggregate", "count", "distinct"):
            command = event.command
            query = command.get("filter", command.get("query"))
            if event.command_name == "aggregate":
                query = (command.get("pipeline") or [{}])[0].get("$match")
            self.seen.append((event.command_name, command[event.command_name], query))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def test_the_lookups_read_the_database_by_id_only(database, people):
    """In process, through the whole app (a professional's token, the record's rules, chains, the audit
    trail): every find, aggregate and count these searches send to a collection that grows with the store (the
    resources, their history, the posting lists, the records) filters on a lone `_id`, the one filter FerretDB
    does not answer by reading the whole collection."""
    uri, name = database
    with pymongo.MongoClient(uri) as plain:
        if "ferretdbVersion" not in plain.admin.command("buildInfo"):
            return  # MongoDB answers these with its indexes (search/__init__.py INDEXES)
    reads = Reads()
    monitoring.register(reads)
    app = create_app({"mongodb_uri": uri, "database_name": name})
    client, token = app_client(app)
    tag, patients = people["tag"], people["patients"]
    searches = [
        ("Patient", {"family": f"{tag}ere", "given": "helene", "birthdate": "1961-07-14"}),
        ("Patient", {"name": tag[:3]}),
        ("Patient", {"name": f"{tag}ere-mor"}),
        ("DocumentReference", {"author.identifier": f"{RPPS}|{people['rpps'][0]}", "_sort": "-date"}),
        ("DocumentReference", {"author:identifier": f"{RPPS}|{people['rpps'][2]}"}),
        ("DocumentReference", {"patient": patients["A"], "category": f"{CLASS}|10", "status": "current",
                               "date": "ge2024-01-01", "_sort": "-date"}),
        ("DocumentReference", {"author.identifier": f"{RPPS}|nobody"}),
    ]
    for resource_type, params in searches:
        reads.seen.clear()
        reads.on = True
        try:
            answer = client.get(f"/fhir/{resource_type}?{urlencode(params)}", headers={"Accept": JSON, **token})
        finally:
            reads.on = False
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert reads.seen
        for command, collection, query in reads.seen:
            if collection not in GROWING:
                continue  # e.g. the token revocations a worker reloads now and then
            assert isinstance(query, dict) and list(query) == ["_id"] and isinstance(query["_id"], str), (
                resource_type, params, command, collection, query)
