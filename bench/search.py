"""Search benchmark: the five most common hospital searches through the API at growing store sizes, each next
to raw pymongo running the same query on the same database.

Starts a throwaway database and the real server, loads patients and their DocumentReferences in bulk straight
into the store's collections (the documents the server itself writes, see `load_batch`), and at each size
times every search through HTTP and the same filter with plain pymongo. Prints a markdown table; see
bench/README.md.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pymongo
import requests
from pymongo.database import Database

from fhir_server.access.membership import with_record
from fhir_server.search.filters import search_filter
from fhir_server.search.query import parse_search
from fhir_server.search.values import date_range, index_fields
from fhir_server.service.search import sort_fields
from fhir_server.storage.mongo import HISTORY
from fhir_server.storage.postings import Postings, posting_keys
from fhir_server.storage.resources import version_document

from load import api_server, database, publish  # noqa: E402 - bench/ is the script's folder

INS = "urn:oid:1.2.250.1.213.1.4.8"
DOCUMENT_ID = "urn:ietf:rfc:3986"
LOINC = "http://loinc.org"
TYPES = ["11488-4", "18842-5", "34133-9", "11502-2", "57833-6"]  # consultation, discharge, summary, lab, Rx
JSON = {"Accept": "application/fhir+json"}
START = datetime(2020, 1, 1, tzinfo=timezone.utc)


@dataclass
class Dataset:
    """What was loaded, to pick search values from."""
    patients: list[tuple[str, str]]  # (id, INS)
    documents: list[str]  # document identifiers (urn:oid)


def patient(nir: str) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": INS, "value": nir}],
            "name": [{"family": random.choice(["Martin", "Bernard", "Dubois", "Petit"]), "given": ["Camille"]}],
            "gender": random.choice(["male", "female"]), "birthDate": f"19{random.randint(30, 99)}-05-17"}


def document(patient_id: str, unique_id: str, code: str, date: datetime) -> dict:
    return {"resourceType": "DocumentReference", "status": "current",
            "identifier": [{"system": DOCUMENT_ID, "value": unique_id}],
            "type": {"coding": [{"system": LOINC, "code": code}]},
            "category": [{"coding": [{"system": LOINC, "code": code}]}],
            "subject": {"reference": f"Patient/{patient_id}"}, "date": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "author": [{"reference": "Practitioner/bench-author"}],
            "securityLabel": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}],
            "content": [{"attachment": {"contentType": "application/pdf", "url": f"Binary/{uuid.uuid4()}",
                                        "size": 48213, "hash": "2jmj7l5rSw0yVb/vlWAYkK/YBwk="}}]}


class Indexer:
    """index_fields (about 1.3 ms of FHIRPath each) once per document type; each document's own values (its
    patient, date and identifier) are put in its type's fields. Every 500th document is computed in full and
    compared, so the shortcut cannot drift from what the server writes."""

    def __init__(self) -> None:
        self.templates: dict[str, dict] = {}
        self.checked = 0

    def __call__(self, resource: dict, n: int) -> dict:
        if resource["resourceType"] != "DocumentReference":
            return index_fields("Patient", resource)
        code = resource["type"]["coding"][0]["code"]
        template = self.templates.get(code)
        if template is None:
            template = self.templates[code] = index_fields("DocumentReference", resource)
        fields = dict(template)
        reference = resource["subject"]["reference"]
        fields["r:patient"] = fields["r:subject"] = sorted([reference, reference.split("/")[1]])
        fields.update(dict(zip(("dl:date", "dh:date"), date_range(resource["date"]))))
        value = resource["identifier"][0]["value"]
        fields["t:identifier"] = sorted([f"{DOCUMENT_ID}|", f"{DOCUMENT_ID}|{value}", value])
        fields["u:location"] = [resource["content"][0]["attachment"]["url"]]
        if n % 500 == 0:
            assert fields == index_fields("DocumentReference", resource), "bench index shortcut drifted"
            self.checked += 1
        return with_record("DocumentReference", fields, reference)  # its record, as the server decides it


def load_batch(db: Database, first: int, count: int, per_patient: int, dataset: Dataset, indexer: Indexer) -> None:
    """`count` DocumentReferences (and a Patient for each `per_patient` of them): version 1 of each in the
    history and current collections, as ResourceStore.write leaves them, and their posting lists."""
    postings = Postings(db) if "ferretdbVersion" in db.client.admin.command("buildInfo") else None
    now = datetime.now(timezone.utc).replace(microsecond=0)
    docs: dict[str, list[dict]] = {"Patient": [], "DocumentReference": []}
    lists: dict[str, list[str]] = {}
    for n in range(first, first + count):
        if n % per_patient == 0:
            patient_id, nir = str(uuid.uuid4()), f"{random.randint(1, 2)}{n:012d}"
            dataset.patients.append((patient_id, nir))
            resources = [("Patient", patient_id, patient(nir))]
        else:
            resources = []
        patient_id = dataset.patients[-1][0]
        unique_id = f"urn:oid:1.2.250.1.999.{n}"
        dataset.documents.append(unique_id)
        date = START + timedelta(minutes=random.randint(0, 5 * 365 * 24 * 60))
        resources.append(("DocumentReference", str(uuid.uuid4()),
                          document(patient_id, unique_id, random.choice(TYPES), date)))
        for resource_type, resource_id, resource in resources:
            index = indexer(resource, n)
            _, doc = version_document(resource_type, resource_id, resource, 1, now, "POST", index)
            docs[resource_type].append(doc)
            for key in posting_keys(resource_type, index):
                lists.setdefault(key, []).append(resource_id)
    for resource_type, versions in docs.items():
        if versions:
            db[HISTORY].insert_many(versions, ordered=False)
            db[resource_type].insert_many([{**d, "_id": d["rid"]} for d in versions], ordered=False)
    if postings is not None:
        postings.add(lists, fresh=True)


@dataclass
class Query:
    name: str
    resource_type: str
    params: Callable[[Dataset], list[tuple[str, str]]]


def _patient(data: Dataset) -> tuple[str, str]:
    return random.choice(data.patients)


QUERIES = [
    Query("a patient's documents, newest first", "DocumentReference",
          lambda d: [("patient", _patient(d)[0]), ("_sort", "-date")]),
    Query("by patient, type and date, newest first", "DocumentReference",
          lambda d: [("patient", _patient(d)[0]), ("type", f"{LOINC}|{random.choice(TYPES)}"),
                     ("date", "ge2022-01-01"), ("_sort", "-date")]),
    Query("by the patient's INS (chained)", "DocumentReference",
          lambda d: [("subject:Patient.identifier", f"{INS}|{_patient(d)[1]}"), ("status", "current")]),
    Query("a document by its unique id", "DocumentReference",
          lambda d: [("identifier", f"{DOCUMENT_ID}|{random.choice(d.documents)}")]),
    Query("does a record exist for this INS", "Patient",
          lambda d: [("identifier", f"{INS}|{_patient(d)[1]}")]),
]


def raw_find(db: Database, resource_type: str, params: list[tuple[str, str]]) -> int:
    """The same search with plain pymongo: its filter and sort, first page of 20; a chain is its inner query
    then the outer one, as the server runs it."""
    def resolve(inner_type: str, query: dict, field: str | None) -> list:
        return [d["_id"] for d in db[inner_type].find(query, {"_id": 1}).limit(1001)]
    request = parse_search(resource_type, params, strict=True)
    query = search_filter(request, resolve=resolve)
    return len(list(db[resource_type].find(query).sort([*sort_fields(request), ("_id", 1)]).limit(20)))


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
    parser.add_argument("--repeat", type=int, default=40, help="API requests per search and size")
    parser.add_argument("--raw-seconds", type=float, default=60.0,
                        help="time budget of the raw pymongo runs per search and size (at least one run)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--markdown-out", type=Path)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    random.seed(20261123)
    lines = ["| documents | search | hits | API p50 ms | API p95 ms | raw pymongo p50 ms | raw p95 ms | raw runs |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    with tempfile.TemporaryDirectory(prefix="fhir-bench-") as tmp, database(Path(tmp)) as (uri, name, kind):
        with api_server(uri, name, args, Path(tmp) / "server.log") as (base, software):
            client = pymongo.MongoClient(uri, tz_aware=True)
            db, data, indexer, loaded = client[name], Dataset([], []), Indexer(), 0
            for size in sizes:
                started = time.perf_counter()
                while loaded < size:
                    batch = min(5000, size - loaded)
                    load_batch(db, loaded, batch, args.per_patient, data, indexer)
                    loaded += batch
                print(f"loaded {loaded} documents ({len(data.patients)} patients) "
                      f"in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
                probe = time.perf_counter()
                raw_find(db, "DocumentReference", QUERIES[0].params(data))
                raw_repeat = max(1, min(args.repeat, int(args.raw_seconds / max(time.perf_counter() - probe, 1e-3))))
                for row in time_queries(base, software, db, data, args.repeat, raw_repeat):
                    lines.append(f"| {size:,} | {row['query']} | {row['hits']:.1f} | {_cut(row['api'], 50):.1f} | "
                                 f"{_cut(row['api'], 95):.1f} | {_cut(row['raw'], 50):.1f} | "
                                 f"{_cut(row['raw'], 95):.1f} | {len(row['raw'])} |")
                    print(lines[-1], file=sys.stderr, flush=True)
            client.close()
    text = "\n".join([f"database: {kind}; {args.per_patient} documents per patient; "
                      f"{indexer.checked} documents' index values checked against index_fields", "", *lines]) + "\n"
    publish(text, args.markdown_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
