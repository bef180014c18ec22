"""Load benchmark: the FHIR API (gunicorn + Flask) against a raw pymongo ceiling on the same database.

Starts a throwaway database and the real server, creates patients with their documents through the API
with concurrent clients, reads every resource back, then times plain pymongo insert_one / find_one of the
same stored documents. Prints a markdown table; see bench/README.md.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pymongo
import requests

from fhir_server.auth.backend_client import BackendClient, register
from fhir_server.storage.ferretdb import LocalFerretDB, free_port, index_id_lookups

REPO_ROOT = Path(__file__).resolve().parent.parent
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
FAMILIES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
GIVEN = {"male": ["Jean", "Pierre", "Louis", "Lucas", "Hugo"], "female": ["Marie", "Camille", "Léa", "Chloé", "Inès"]}
CITIES = [("Paris", "75011", "75", "111"), ("Lyon", "69003", "69", "383"), ("Lille", "59000", "59", "350"),
          ("Nantes", "44000", "44", "109"), ("Toulouse", "31000", "31", "555")]


@dataclass
class Op:
    """Latencies (seconds) and failures of one kind of operation, and the wall time of its phase."""
    name: str
    latencies: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    example: str = ""
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, started: float, failure: str | None = None, detail: str = "") -> None:
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies.append(elapsed)
            if failure:
                self.failures[failure] += 1
                self.example = self.example or f"{failure}: {detail[:300]}"


def merged(name: str, *ops: Op) -> Op:
    """One row for several operations timed in the same phase."""
    total = Op(name, seconds=ops[0].seconds)
    for op in ops:
        total.latencies += op.latencies
        total.failures.update(op.failures)
    return total


def run_clients(items: Sequence[Any], clients: int, work: Callable[[Any, Any], None],
                state: Callable[[], contextlib.AbstractContextManager]) -> float:
    """Runs `work(client_state, item)` for every item on `clients` threads; returns the wall seconds.

    On an interruption (Ctrl-C) the threads stop taking items and the exception goes on.
    """
    items_left, lock, stop = iter(items), threading.Lock(), threading.Event()

    def client() -> None:
        with state() as own:
            while not stop.is_set():
                with lock:
                    item = next(items_left, None)
                if item is None:  # no item is None
                    return
                work(own, item)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        stop.set()
        raise
    return time.perf_counter() - started


def patient(index: int) -> dict:
    """A patient with a well-formed INS (NIR: sex, birth year and month, place, order, key 97 - n mod 97)."""
    rng = random.Random(index)
    gender = rng.choice(["male", "female"])
    born = datetime(rng.randint(1940, 2020), rng.randint(1, 12), rng.randint(1, 28))
    city, postal_code, department, commune = rng.choice(CITIES)
    nir = f"{1 if gender == 'male' else 2}{born:%y%m}{department}{commune}{rng.randint(1, 999):03d}"
    return {
        "resourceType": "Patient",
        "identifier": [{"use": "official", "system": "urn:oid:1.2.250.1.213.1.4.8",
                        "value": f"{nir}{97 - int(nir) % 97:02d}"}],
        "name": [{"use": "official", "family": rng.choice(FAMILIES).upper(), "given": [rng.choice(GIVEN[gender])]}],
        "gender": gender,
        "birthDate": born.date().isoformat(),
        "address": [{"use": "home", "city": city, "postalCode": postal_code, "country": "FR"}],
    }


def document_reference(patient_id: str, index: int) -> dict:
    """A consultation report (PDF) about the patient, normal confidentiality."""
    rng = random.Random(f"doc-{index}")
    size = rng.randint(40_000, 2_000_000)
    digest = hashlib.sha1(f"consultation-{index}-{size}".encode()).digest()
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4", "display": "Consult note"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "date": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T{rng.randint(8, 18):02d}:"
                f"{rng.randint(0, 59):02d}:00+01:00",
        "author": [{"display": f"Dr {rng.choice(GIVEN['female'] + GIVEN['male'])} {rng.choice(FAMILIES)}"}],
        "description": "Compte rendu de consultation",
        "securityLabel": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                       "code": "N", "display": "normal"}]}],
        "content": [{"attachment": {"contentType": "application/pdf", "language": "fr-FR",
                                    "url": f"https://documents.example.org/{uuid.UUID(int=rng.getrandbits(128))}.pdf",
                                    "size": size,
                                    "hash": base64.b64encode(digest).decode(), "title": "Compte rendu.pdf"}}],
    }


def timed_request(session: requests.Session, op: Op, method: str, url: str, expected: int,
                  body: dict | None = None) -> dict | None:
    """One HTTP request recorded in `op`; the JSON answer when its status is `expected`."""
    started = time.perf_counter()
    try:
        response = session.request(method, url, json=body, headers=FHIR_JSON, timeout=60)
    except requests.RequestException as error:
        op.record(started, type(error).__name__, str(error))
        return None
    if response.status_code != expected:
        op.record(started, str(response.status_code), response.text)
        return None
    op.record(started)
    return response.json()


def run_api(bases: Sequence[str], software: BackendClient, args: argparse.Namespace) -> list[Op]:
    """Creates the patients and their documents, reads every created resource back, then searches each
    patient's documents. Each client keeps one node (`bases`, in turn: a balancer without affinity
    spreads them so)."""
    create = {t: Op(f"create {t}") for t in ("Patient", "DocumentReference")}
    read = {t: Op(f"read {t}") for t in create}
    search = Op("search DocumentReference?patient=")
    created: list[tuple[str, str]] = []
    turn = iter(range(10**9))

    def load(session: requests.Session, index: int) -> None:
        base = session.base
        answer = timed_request(session, create["Patient"], "POST", f"{base}/Patient", 201, patient(index))
        if answer is None:
            return  # its documents would have no subject
        patient_id = answer["id"]
        created.append(("Patient", patient_id))
        for number in range(index * args.documents, (index + 1) * args.documents):
            answer = timed_request(session, create["DocumentReference"], "POST", f"{base}/DocumentReference",
                                   201, document_reference(patient_id, number))
            if answer is not None:
                created.append(("DocumentReference", answer["id"]))

    def fetch(session: requests.Session, item: tuple[str, str]) -> None:
        timed_request(session, read[item[0]], "GET", f"{session.base}/{item[0]}/{item[1]}", 200)

    def documents_of(session: requests.Session, patient_id: str) -> None:
        timed_request(session, search, "GET", f"{session.base}/DocumentReference?patient={patient_id}", 200)

    def session() -> requests.Session:
        authenticated = requests.Session()
        authenticated.headers.update(software.headers())
        authenticated.base = bases[next(turn) % len(bases)]  # type: ignore[attr-defined]
        return authenticated

    seconds = run_clients(range(args.patients), args.clients, load, session)
    for op in create.values():
        op.seconds = seconds
    seconds = run_clients(created, args.clients, fetch, session)
    for op in read.values():
        op.seconds = seconds
    search.seconds = run_clients([rid for kind, rid in created if kind == "Patient"], args.clients, documents_of,
                                 session)
    return [merged("API create (POST)", *create.values()), *create.values(),
            merged("API read (GET by id)", *read.values()), *read.values(), search]


def timed_call(op: Op, call: Callable[[], Any]) -> None:
    """One database call recorded in `op`; an error or a None answer (nothing found) is a failure."""
    started = time.perf_counter()
    try:
        result = call()
    except pymongo.errors.PyMongoError as error:
        return op.record(started, type(error).__name__, str(error))
    op.record(started, "not found" if result is None else None)


def run_raw(uri: str, name: str, clients: int) -> list[Op]:
    """insert_one then find_one by _id of copies of the stored documents, in a collection dropped after."""
    client = pymongo.MongoClient(uri, maxPoolSize=max(clients, 10))
    collection = client[name]["bench_raw"]
    docs = [doc for t in ("Patient", "DocumentReference") for doc in client[name][t].find()]
    for number, doc in enumerate(docs):
        doc["_id"] = f"raw-{number}"
    insert, find = Op("pymongo insert_one"), Op("pymongo find_one by _id")
    collection.create_index("ts")  # creates the collection, so that it gets the same _id index as the API's
    if os.environ.get("FERRETDB_SQLITE_DIR"):
        index_id_lookups(Path(os.environ["FERRETDB_SQLITE_DIR"]), name)
    try:
        insert.seconds = run_clients(docs, clients, lambda _, doc: timed_call(
            insert, lambda: collection.insert_one(doc)), contextlib.nullcontext)
        find.seconds = run_clients([doc["_id"] for doc in docs], clients, lambda _, doc_id: timed_call(
            find, lambda: collection.find_one({"_id": doc_id})), contextlib.nullcontext)
    finally:
        collection.drop()
        client.close()
    return [insert, find]


@contextlib.contextmanager
def database(tmp: Path) -> Iterator[tuple[str, str, str]]:
    """(uri, throwaway database name, description): MONGODB_URI when set, else a local FerretDB."""
    name = f"fhir_bench_{uuid.uuid4().hex[:8]}"
    uri = os.environ.get("MONGODB_URI")
    if uri:
        try:
            yield uri, name, "MongoDB at MONGODB_URI"
        finally:
            with pymongo.MongoClient(uri) as client:
                client.drop_database(name)
        return
    ferret = LocalFerretDB(tmp / "ferretdb")
    os.environ["FERRETDB_SQLITE_DIR"] = str(ferret.sqlite_dir)  # the server adds its _id lookup indexes
    try:
        yield ferret.start(), name, "local FerretDB (SQLite), throwaway data folder"
    finally:
        ferret.stop()
        del os.environ["FERRETDB_SQLITE_DIR"]


@contextlib.contextmanager
def api_server(uri: str, name: str, args: argparse.Namespace,
               log_path: Path) -> Iterator[tuple[str, BackendClient]]:
    """`fhir-server serve` (gunicorn) on a free loopback port; yields its FHIR base once /metadata answers,
    and a vendor registered in its database to get access tokens with."""
    with api_nodes(uri, name, args, log_path.parent, 1) as (bases, software):
        yield bases[0], software


@contextlib.contextmanager
def api_nodes(uri: str, name: str, args: argparse.Namespace, log_dir: Path,
              nodes: int) -> Iterator[tuple[list[str], BackendClient]]:
    """`nodes` × `fhir-server serve` on one database, each on a free loopback port (logs `server<n>.log`);
    yields their FHIR bases once each answers /metadata, and a vendor registered in the database. Several
    nodes share one public base (FHIR_BASE_URL, a balancer's address nothing listens on here): the audience
    of every token, whichever node issued it; the vendor asks each node in turn for its tokens."""
    ports = [free_port() for _ in range(nodes)]
    bases = [f"http://127.0.0.1:{port}/fhir" for port in ports]
    public = f"http://127.0.0.1:{free_port()}" if nodes > 1 else bases[0].removesuffix("/fhir")
    env = {**os.environ, "MONGODB_URI": uri, "FHIR_DATABASE": name,
           **({"FHIR_BASE_URL": f"{public}/fhir"} if nodes > 1 else {})}
    processes: list[subprocess.Popen] = []
    try:
        for n, port in enumerate(ports):
            with open(log_dir / f"server{n if nodes > 1 else ''}.log", "wb") as log:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "fhir_server.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                     "--workers", str(args.workers), "--threads", str(args.threads)],
                    env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + 60 * nodes
        for n, (base, process) in enumerate(zip(bases, processes)):
            while not _ready(base):
                if process.poll() is not None or time.monotonic() > deadline:
                    log_text = (log_dir / f"server{n if nodes > 1 else ''}.log").read_text(errors="replace")
                    raise RuntimeError(f"the server did not start:\n{log_text[-3000:]}")
                time.sleep(0.2)
        turn = iter(range(10**9))

        def post(url: str, form: dict) -> tuple[int, dict]:  # the token endpoint of each node in turn
            node = bases[next(turn) % nodes].removesuffix("/fhir")
            response = requests.post(node + url[len(public):], data=form, timeout=30)
            return response.status_code, response.json()
        with pymongo.MongoClient(uri) as client:
            software = register(client[name], public, "Benchmark vendor", ["system/*.cruds"], post=post)
        yield bases, software
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/metadata", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def table(ops: list[Op], header: list[str]) -> str:
    """The header lines, then one markdown row per operation (ops/s over the wall time of its phase)."""
    lines = [*header, "", "| operation | count | non-2xx / errors | total s | ops/s | p50 ms | p95 ms | p99 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for op in ops:
        ms = [x * 1000 for x in op.latencies]
        cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else (ms or [0.0]) * 99
        failed = sum(op.failures.values())
        detail = f" ({', '.join(f'{k}: {v}' for k, v in op.failures.most_common())})" if failed else ""
        rate = len(ms) / op.seconds if op.seconds else 0.0
        lines.append(f"| {op.name} | {len(ms)} | {failed}{detail} | {op.seconds:.2f} | {rate:.1f} | "
                     f"{cuts[49]:.1f} | {cuts[94]:.1f} | {cuts[98]:.1f} |")
    return "\n".join(lines) + "\n"


def per_node(ops: list[Op], nodes: int) -> str:
    """Requests per second per node, by interaction: the sizing figure (the API's rows over the node count)."""
    lines = ["", f"| interaction | requests/s, {nodes} nodes | per node |", "| --- | ---: | ---: |"]
    for op in ops:
        if op.name.startswith(("create ", "read ", "search ")) and op.seconds:
            rate = len(op.latencies) / op.seconds
            lines.append(f"| {op.name} | {rate:.1f} | {rate / nodes:.1f} |")
    return "\n".join(lines) + "\n"


def publish(text: str, path: Path | None) -> None:
    """Prints a benchmark's table, and writes it to `path` when one is given (--markdown-out)."""
    print(text)
    if path:
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--documents", type=int, default=5, help="DocumentReferences per patient")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--nodes", type=int, default=1,
                        help="serve processes on the one database, the clients spread over them (default 1)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn worker processes per node")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--markdown-out", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)

    started = datetime.now(timezone.utc)
    try:
        with tempfile.TemporaryDirectory(prefix="fhir-bench-") as tmp, database(Path(tmp)) as (uri, name, kind):
            with api_nodes(uri, name, args, Path(tmp), args.nodes) as (bases, software):
                ops = run_api(bases, software, args)
            ops += run_raw(uri, name, args.clients)
    except KeyboardInterrupt:
        print("interrupted: server and database stopped", file=sys.stderr)
        return 130
    header = ["## FHIR API load benchmark", "",
              f"- date: {started:%Y-%m-%d %H:%M} UTC",
              f"- machine: nproc {len(os.sched_getaffinity(0))}, "
              f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB RAM, "
              f"{platform.platform()}, Python {platform.python_version()}",
              f"- database: {kind}",
              f"- parameters: {args.patients} patients x {args.documents} documents, {args.clients} clients, "
              f"{args.nodes} node{'s' if args.nodes > 1 else ''} x gunicorn {args.workers} workers x "
              f"{args.threads} threads"]
    text = table(ops, header)
    if args.nodes > 1:
        text += per_node(ops, args.nodes)
    publish(text, args.markdown_out)
    for op in ops:
        if op.example:
            print(f"first failure of {op.name}: {op.example}", file=sys.stderr)
    return 1 if any(op.failures for op in ops) else 0


if __name__ == "__main__":
    sys.exit(main())
