"""Search benchmark: the searches hospitals' and practitioners' software run most, through the API at growing
store sizes, each next to raw pymongo running the same query on the same database.

Starts a throwaway database and the real server, loads patients, practitioners and DocumentReferences in bulk
straight into the store's collections (the documents the server itself writes, see `load_batch`), and at each
size times every search through HTTP and the same filter with plain pymongo, and counts the database commands
each search sends (in process: bench/search_commands.py). Prints a markdown table; see bench/README.md.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pymongo
import requests
from pymongo.database import Database

from fhir_server.access.membership import with_record
from fhir_server.access.policy import WRITER
from fhir_server.search.filters import search_filter
from fhir_server.search.query import parse_search
from fhir_server.search.values import date_range, index_fields
from fhir_server.service.search import sort_fields
from fhir_server.storage.mongo import HISTORY, RECORDS
from fhir_server.storage.postings import Postings, posting_keys
from fhir_server.storage.resources import version_document

from load import api_server, database, publish  # noqa: E402 - bench/ is the script's folder
from search_commands import Counts, in_process  # noqa: E402

INS = "urn:oid:1.2.250.1.213.1.4.8"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"  # IDNPS: 8 + the RPPS number
DOCUMENT_ID = "urn:ietf:rfc:3986"
LOINC = "http://loinc.org"
CLASS = "urn:oid:1.2.250.1.213.1.1.4.1"  # XDS classCode (ANS JDV_J07)
# LOINC type -> class code: consultation and discharge reports, summary, lab result, prescription
TYPES = {"11488-4": "10", "18842-5": "10", "34133-9": "11", "11502-2": "13", "57833-6": "60"}
STATUSES = ["current"] * 6 + ["superseded"]  # a replaced document stays, superseded
JSON = {"Accept": "application/fhir+json"}
START = datetime(2020, 1, 1, tzinfo=timezone.utc)
BORN = datetime(1930, 1, 1)
BORN_DAYS = (datetime(2024, 12, 31) - BORN).days
# Family names are two or three of these syllables (about 300,000 names, none shared by more than a few
# hundredths of a percent, and a 3-letter prefix by a few percent); given names follow a long-tailed
# distribution over a list with accents, as in a French population.
SYLLABLES = ["ber", "nard", "du", "bois", "mar", "tin", "le", "roy", "mo", "reau", "fon", "taine", "gar", "nier",
             "che", "val", "lier", "ro", "ger", "bon", "net", "fau", "re", "gi", "rard", "pe", "tit", "lau", "rent",
             "mi", "chel", "fa", "bre", "gau", "thier", "co", "lin", "vi", "dal", "bla", "pi", "card", "bri", "and",
             "cour", "ti", "bé", "ra", "lé", "mé", "nil", "da", "vid", "hu", "guet", "jo", "ly", "sau", "vage",
             "bou", "cher", "tré", "mon", "dé", "ni", "guil", "lot", "thé", "lo", "ry", "cla", "ret"]
GIVEN = ["Marie", "Jean", "Pierre", "Michel", "André", "Philippe", "Nathalie", "Isabelle", "Sylvie", "Catherine",
         "Françoise", "Alain", "Christine", "Jacques", "Bernard", "Éric", "Nicolas", "Stéphane", "Sandrine",
         "Valérie", "Céline", "Julien", "Sébastien", "Laurent", "Frédéric", "Christophe", "Hélène", "Anne",
         "Thomas", "Camille", "Léa", "Chloé", "Inès", "Manon", "Emma", "Lucas", "Hugo", "Louis", "Gabriel",
         "Jules", "Raphaël", "Arthur", "Zoé", "Anaïs", "Noémie", "Gaëlle", "Jérôme", "François", "Thérèse",
         "Agnès", "Benoît", "Joël", "Loïc", "Maëlle", "Clément", "Aurélie", "Mélanie", "Solène", "Timothée",
         "Yannick", "Gwenaëlle", "Ophélie", "Léon", "Adèle", "Margaux", "Élodie", "Rémi", "Cécile", "Annick"]
GIVEN_WEIGHTS = [1 / (rank + 4) for rank in range(len(GIVEN))]


@dataclass
class Person:
    id: str
    identifier: str  # INS or IDNPS
    family: str = ""
    given: str = ""
    born: str = ""


@dataclass
class Dataset:
    """What was loaded, to pick search values from, and the posting keys already in the store."""
    patients: list[Person]
    practitioners: list[Person]
    documents: list[str]  # document identifiers (urn:oid)
    keys: set[str]


def family_name() -> str:
    return "".join(random.choices(SYLLABLES, k=random.choice([2, 2, 2, 3, 3]))).capitalize()


def given_name() -> str:
    return random.choices(GIVEN, GIVEN_WEIGHTS)[0]


def as_typed(text: str) -> str:
    """Upper case without accents, as INS traits and many hospital systems write names."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).upper()


def patient(person: Person) -> dict:
    given = [person.given] + ([given_name()] if random.random() < 0.3 else [])
    return {"resourceType": "Patient", "identifier": [{"system": INS, "value": person.identifier}],
            "name": [{"use": "official", "family": person.family, "given": given}],
            "gender": random.choice(["male", "female"]), "birthDate": person.born}


def practitioner(person: Person) -> dict:
    return {"resourceType": "Practitioner", "identifier": [{"system": RPPS, "value": person.identifier}],
            "name": [{"family": person.family, "given": [person.given], "prefix": ["Dr"]}]}


def document(patient_id: str, author: Person, unique_id: str, code: str, status: str, date: datetime) -> dict:
    return {"resourceType": "DocumentReference", "status": status,
            "identifier": [{"system": DOCUMENT_ID, "value": unique_id}],
            "type": {"coding": [{"system": LOINC, "code": code}]},
            "category": [{"coding": [{"system": CLASS, "code": TYPES[code]}]}],
            "subject": {"reference": f"Patient/{patient_id}"}, "date": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "author": [{"reference": f"Practitioner/{author.id}"}],
            "securityLabel": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}],
            "content": [{"attachment": {"contentType": "application/pdf", "url": f"Binary/{uuid.uuid4()}",
                                        "size": 48213, "hash": "2jmj7l5rSw0yVb/vlWAYkK/YBwk="}}]}


class Indexer:
    """index_fields once per document type and status; each document's own values (its patient, author, date
    and identifier) are put in those fields. Every 500th document is computed in full and compared, so the
    shortcut cannot drift from what the server writes. Patients and practitioners are indexed in full."""

    def __init__(self) -> None:
        self.templates: dict[tuple[str, str], dict] = {}
        self.checked = 0

    def __call__(self, resource: dict, n: int) -> dict:
        if resource["resourceType"] != "DocumentReference":
            return index_fields(resource["resourceType"], resource)
        kind = (resource["type"]["coding"][0]["code"], resource["status"])
        template = self.templates.get(kind)
        if template is None:
            template = self.templates[kind] = index_fields("DocumentReference", resource)
        fields = dict(template)
        reference = resource["subject"]["reference"]
        fields["r:patient"] = fields["r:subject"] = sorted([reference, reference.split("/")[1]])
        author = resource["author"][0]["reference"]
        fields["r:author"] = sorted([author, author.split("/")[1]])
        fields.update(dict(zip(("dl:date", "dh:date"), date_range(resource["date"]))))
        value = resource["identifier"][0]["value"]
        fields["t:identifier"] = sorted([f"{DOCUMENT_ID}|", f"{DOCUMENT_ID}|{value}", value])
        fields["u:location"] = [resource["content"][0]["attachment"]["url"]]
        if n % 500 == 0:
            assert fields == index_fields("DocumentReference", resource), "bench index shortcut drifted"
            self.checked += 1
        return with_record("DocumentReference", fields, reference)  # its record, as the server decides it


def load_batch(db: Database, first: int, count: int, per_patient: int, per_author: int, dataset: Dataset,
               indexer: Indexer, pending: dict[str, list[str]]) -> None:
    """`count` DocumentReferences, a Patient (and its open record) for each `per_patient` of them, a
    Practitioner for each `per_author`: version 1 of each in the history and current collections, as
    ResourceStore.write leaves them, and their posting lists. A list new to the store is inserted whole;
    additions to one already there (a name prefix, a birth date, an author) are left in `pending` for
    `Postings.add` at the end of the size."""
    postings = Postings(db) if "ferretdbVersion" in db.client.admin.command("buildInfo") else None
    now = datetime.now(timezone.utc).replace(microsecond=0)
    docs: dict[str, list[dict]] = {"Patient": [], "Practitioner": [], "DocumentReference": []}
    lists: dict[str, list[str]] = {}
    records = []
    for n in range(first, first + count):
        resources = []
        if n % per_author == 0:
            person = Person(str(uuid.uuid4()), f"8{n:011d}", family_name(), given_name())
            dataset.practitioners.append(person)
            resources.append(("Practitioner", person.id, practitioner(person)))
        if n % per_patient == 0:
            born = (BORN + timedelta(days=random.randint(0, BORN_DAYS))).date().isoformat()
            person = Person(str(uuid.uuid4()), f"{random.randint(1, 2)}{n:012d}", family_name(), given_name(), born)
            dataset.patients.append(person)
            resources.append(("Patient", person.id, patient(person)))
            records.append({"_id": person.id, "state": "open", "opened": now, "blocked": [], "no_emergency": False})
        patient_id = dataset.patients[-1].id
        author = random.choice(dataset.practitioners[-20:])  # one of the practice's colleagues
        unique_id = f"urn:oid:1.2.250.1.999.{n}"
        dataset.documents.append(unique_id)
        date = START + timedelta(minutes=random.randint(0, 5 * 365 * 24 * 60))
        resources.append(("DocumentReference", str(uuid.uuid4()), document(
            patient_id, author, unique_id, random.choice(list(TYPES)), random.choice(STATUSES), date)))
        for resource_type, resource_id, resource in resources:
            index = indexer(resource, n)
            if resource_type == "DocumentReference":
                index[WRITER] = author.identifier  # who pushed it (access/policy.py)
            _, doc = version_document(resource_type, resource_id, resource, 1, now, "POST", index)
            docs[resource_type].append(doc)
            for key in posting_keys(resource_type, index):
                (pending if key in dataset.keys else lists).setdefault(key, []).append(resource_id)
    for resource_type, versions in docs.items():
        if versions:
            db[HISTORY].insert_many(versions, ordered=False)
            db[resource_type].insert_many([{**d, "_id": d["rid"]} for d in versions], ordered=False)
    if records:
        db[RECORDS].insert_many(records, ordered=False)  # as the first document in a record opens it
    if postings is not None:
        postings.add(lists, fresh=True)
        dataset.keys.update(lists)


@dataclass
class Query:
    name: str
    resource_type: str
    params: Callable[[Dataset], list[tuple[str, str]]]


def _patient(data: Dataset) -> Person:
    return random.choice(data.patients)


def _newest_first(data: Dataset, *criteria: tuple[str, str]) -> list[tuple[str, str]]:
    return [("patient", _patient(data).id), *criteria, ("_sort", "-date")]


def _traits(data: Dataset) -> list[tuple[str, str]]:
    person = _patient(data)
    return [("family", as_typed(person.family)), ("given", as_typed(person.given)), ("birthdate", person.born)]


def _year() -> list[tuple[str, str]]:
    year = random.randint(2020, 2024)
    return [("date", f"ge{year}-01-01"), ("date", f"lt{year + 1}-01-01")]


QUERIES = [
    Query("a patient's documents, newest first", "DocumentReference", lambda d: _newest_first(d)),
    Query("by patient, type and date, newest first", "DocumentReference",
          lambda d: _newest_first(d, ("type", f"{LOINC}|{random.choice(list(TYPES))}"), ("date", "ge2022-01-01"))),
    Query("by the patient's INS (chained)", "DocumentReference",
          lambda d: [("subject:Patient.identifier", f"{INS}|{_patient(d).identifier}"), ("status", "current")]),
    Query("a document by its unique id", "DocumentReference",
          lambda d: [("identifier", f"{DOCUMENT_ID}|{random.choice(d.documents)}")]),
    Query("does a record exist for this INS", "Patient",
          lambda d: [("identifier", f"{INS}|{_patient(d).identifier}")]),
    Query("by patient and type, newest first", "DocumentReference",
          lambda d: _newest_first(d, ("type", f"{LOINC}|{random.choice(list(TYPES))}"))),
    Query("by patient and category, newest first", "DocumentReference",
          lambda d: _newest_first(d, ("category", f"{CLASS}|{random.choice(list(TYPES.values()))}"))),
    Query("by patient and a year's dates, newest first", "DocumentReference", lambda d: _newest_first(d, *_year())),
    Query("by patient and status, newest first", "DocumentReference",
          lambda d: _newest_first(d, ("status", "current"))),
    Query("identity by traits (family, given, birth date)", "Patient", _traits),
    Query("by name prefix (6 letters)", "Patient", lambda d: [("name", as_typed(_patient(d).family)[:6])]),
    Query("a professional's documents (author.identifier), newest first", "DocumentReference",
          lambda d: [("author.identifier", f"{RPPS}|{random.choice(d.practitioners).identifier}"),
                     ("_sort", "-date")]),
]


def raw_find(db: Database, resource_type: str, params: list[tuple[str, str]]) -> int:
    """The same search with plain pymongo: its filter and sort, first page of 20; a chain is its inner query
    then the outer one, as the server runs it."""
    def resolve(inner_type: str, query: dict, field: str | None) -> list:
        return [d["_id"] for d in db[inner_type].find(query, {"_id": 1}).limit(1001)]
    request = parse_search(resource_type, params, strict=True)
    query = search_filter(request, resolve=resolve)
    return len(list(db[resource_type].find(query).sort([*sort_fields(request), ("_id", 1)]).limit(20)))


def count_commands(count: Callable[[str, list[tuple[str, str]]], Counts], data: Dataset, runs: int = 5,
                   trace: bool = False) -> list[dict]:
    """The database commands each search sends, in process (bench/search_commands.py), mean of `runs` runs;
    `trace`: each command of the first run printed."""
    rows = []
    for query in QUERIES:
        runs_counts = [count(query.resource_type, query.params(data)) for _ in range(runs)]
        if trace:
            print(f"  {query.name}:", *runs_counts[0].log, sep="\n    ", file=sys.stderr, flush=True)
        for scan in {scan for counts in runs_counts for scan in counts.scans}:
            print(f"  {query.name}: read not by _id: {scan[:300]}", file=sys.stderr, flush=True)
        rows.append({name: statistics.mean(getattr(c, name) for c in runs_counts)
                     for name in ("by_id", "other_reads", "writes")})
    return rows


def time_queries(base: str, software, db: Database, data: Dataset, repeat: int, raw_repeat: int) -> list[dict]:
    rows = []
    with requests.Session() as http:
        for query in QUERIES:
            api, raw, hits = [], [], []
            for _ in range(repeat):
                params = query.params(data)
                started = time.perf_counter()
                response = http.get(f"{base}/{query.resource_type}", params=params,
                                    headers={**JSON, **software.headers()})
                api.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{query.name}: {response.status_code} {response.text[:500]}")
                hits.append(len(response.json().get("entry", [])))
            for _ in range(raw_repeat):
                params = query.params(data)
                started = time.perf_counter()
                raw_find(db, query.resource_type, params)
                raw.append(time.perf_counter() - started)
            rows.append({"query": query.name, "api": api, "raw": raw, "hits": statistics.mean(hits)})
    return rows


def _cut(seconds: list[float], percent: int) -> float:
    ms = sorted(s * 1000 for s in seconds)
    return ms[min(len(ms) - 1, max(0, round(percent / 100 * len(ms)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="DocumentReference counts, ascending")
    parser.add_argument("--per-patient", type=int, default=10, help="DocumentReferences per patient")
    parser.add_argument("--per-author", type=int, default=10,
                        help="DocumentReferences per practitioner (each written by one of the last 20 joined)")
    parser.add_argument("--repeat", type=int, default=40, help="API requests per search and size")
    parser.add_argument("--raw-seconds", type=float, default=60.0,
                        help="time budget of the raw pymongo runs per search and size (at least one run; "
                             "0: none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--markdown-out", type=Path)
    parser.add_argument("--trace", action="store_true", help="print every command of one run of each search")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    random.seed(20261123)
    lines = ["| documents | search | hits | API p50 ms | API p95 ms | reads by _id | other reads | writes | "
             "raw pymongo p50 ms | raw p95 ms | raw runs |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    with tempfile.TemporaryDirectory(prefix="fhir-bench-") as tmp, database(Path(tmp)) as (uri, name, kind), \
            in_process(uri, name) as count:
        with api_server(uri, name, args, Path(tmp) / "server.log") as (base, software):
            client = pymongo.MongoClient(uri, tz_aware=True)
            db, data, indexer, loaded = client[name], Dataset([], [], [], set()), Indexer(), 0
            postings = Postings(db) if "ferretdb" in kind.lower() else None
            for size in sizes:
                started, pending = time.perf_counter(), {}
                while loaded < size:
                    batch = min(5000, size - loaded)
                    load_batch(db, loaded, batch, args.per_patient, args.per_author, data, indexer, pending)
                    loaded += batch
                if postings is not None:  # a thousand lists at a time: one insert and one head update each
                    keys = list(pending)
                    for start in range(0, len(keys), 1000):
                        postings.add({key: pending[key] for key in keys[start:start + 1000]})
                print(f"loaded {loaded} documents ({len(data.patients)} patients, {len(data.practitioners)} "
                      f"practitioners) in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
                raw_repeat = 0
                if args.raw_seconds > 0:
                    probe = time.perf_counter()
                    raw_find(db, "DocumentReference", QUERIES[0].params(data))
                    raw_repeat = max(1, min(args.repeat, int(args.raw_seconds / max(time.perf_counter() - probe,
                                                                                     1e-3))))
                timed = time_queries(base, software, db, data, args.repeat, raw_repeat)
                for row, calls in zip(timed, count_commands(count, data, trace=args.trace)):
                    raw = (f"{_cut(row['raw'], 50):.1f} | {_cut(row['raw'], 95):.1f}" if row["raw"] else "- | -")
                    lines.append(f"| {size:,} | {row['query']} | {row['hits']:.1f} | {_cut(row['api'], 50):.1f} | "
                                 f"{_cut(row['api'], 95):.1f} | {calls['by_id']:.1f} | {calls['other_reads']:.1f} | "
                                 f"{calls['writes']:.1f} | {raw} | {len(row['raw'])} |")
                    print(lines[-1], file=sys.stderr, flush=True)
            client.close()
    text = "\n".join([f"database: {kind}; {args.per_patient} documents per patient, {args.per_author} per "
                      f"practitioner; "
                      f"{indexer.checked} documents' index values checked against index_fields", "", *lines]) + "\n"
    publish(text, args.markdown_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
