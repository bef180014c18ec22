"""Transaction benchmark: resources per second ingested through transaction Bundles of 1, 10, 100 and 1,000
entries, next to raw pymongo bulk inserts of the same resources in the same run.

Starts a throwaway database and the real server, posts transactions of each size (a patient's documents:
DocumentReferences with their Binary, as a practitioner's software sends them) from one client, then inserts
as many documents of the same size with pymongo `insert_many` in batches of the same sizes. Prints a
markdown table; see bench/README.md.
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pymongo
import requests

from load import api_server, database, publish  # noqa: E402 - bench/ is the script's folder

JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
REPORT = base64.b64encode(b"%PDF-1.4 consultation report " * 40).decode()


def bundle(size: int) -> dict:
    """`size` entries: a new patient, then DocumentReferences and Binaries about them."""
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    entries = [{"fullUrl": patient_url, "resource": {"resourceType": "Patient", "identifier": [
        {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": uuid.uuid4().hex[:13]}]},
        "request": {"method": "POST", "url": "Patient"}}]
    while len(entries) < size:
        binary_url = f"urn:uuid:{uuid.uuid4()}"
        entries.append({"fullUrl": binary_url, "resource": {"resourceType": "Binary", "contentType": "application/pdf",
                                                            "data": REPORT},
                        "request": {"method": "POST", "url": "Binary"}})
        if len(entries) < size:
            entries.append({"resource": {
                "resourceType": "DocumentReference", "status": "current", "subject": {"reference": patient_url},
                "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
                "content": [{"attachment": {"contentType": "application/pdf", "url": binary_url}}]},
                "request": {"method": "POST", "url": "DocumentReference"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries[:size]}


def run_api(base: str, software, size: int, resources: int) -> float:
    """Resources per second through transactions of `size` entries, `resources` in all."""
    with requests.Session() as http:
        bundles = [bundle(size) for _ in range(max(1, resources // size))]
        started = time.perf_counter()
        for item in bundles:
            response = http.post(base, json=item, headers={**JSON, **software.headers()}, timeout=600)
            if response.status_code != 200:
                raise RuntimeError(f"transaction of {size}: {response.status_code} {response.text[:500]}")
        return len(bundles) * size / (time.perf_counter() - started)


def run_raw(db, size: int, resources: int) -> float:
    """Resources per second with pymongo insert_many of `size` documents of the same JSON."""
    collection = db[f"bench_raw_{uuid.uuid4().hex[:8]}"]
    batches = [[{"_id": str(uuid.uuid4()), "json": json.dumps(e["resource"])} for e in bundle(size)["entry"]]
               for _ in range(max(1, resources // size))]
    started = time.perf_counter()
    for batch in batches:
        collection.insert_many(batch, ordered=False)
    rate = len(batches) * size / (time.perf_counter() - started)
    collection.drop()
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100,1000", help="entries per transaction")
    parser.add_argument("--resources", type=int, default=2000, help="resources per size")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--markdown-out", type=Path)
    args = parser.parse_args(argv)
    lines = ["| entries per transaction | transactions | API resources/s | raw insert_many resources/s |",
             "| ---: | ---: | ---: | ---: |"]
    with tempfile.TemporaryDirectory(prefix="fhir-bench-") as tmp, database(Path(tmp)) as (uri, name, kind):
        with api_server(uri, name, args, Path(tmp) / "server.log") as (base, software):
            client = pymongo.MongoClient(uri)
            for size in (int(s) for s in args.sizes.split(",")):
                api = run_api(base, software, size, args.resources)
                raw = run_raw(client[name], size, args.resources)
                lines.append(f"| {size} | {max(1, args.resources // size)} | {api:.0f} | {raw:.0f} |")
                print(lines[-1], file=sys.stderr, flush=True)
            client.close()
    text = "\n".join([f"database: {kind}; {args.resources} resources per size, one client", "", *lines]) + "\n"
    publish(text, args.markdown_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
