"""Where one interaction's time goes: the database commands it sends (pymongo command monitoring) and the CPU
of each layer (cProfile), for create Patient, create DocumentReference, read by id and the listed searches.

Runs the app in this process (Flask's test client, no HTTP server) against a throwaway FerretDB, or a
database `fhir_calls_<random>` in `MONGODB_URI`, dropped at the end. The interactions are the ones
bench/load.py and ../shared/bench/loadprobe.py send, with the same documents. Each runs `--repeat` times from
one client (calls and CPU), then from `--clients` concurrent clients (calls only: the audit trail then writes the
events of requests that arrive together in one commit). See bench/README.md.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pymongo
from pymongo import monitoring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import document_reference, patient  # noqa: E402  (bench/load.py: the same documents)

from fhir_server.auth.backend_client import register_in_process  # noqa: E402
from fhir_server.storage.ferretdb import LocalFerretDB  # noqa: E402
from fhir_server.storage.mongo import POSTING_HEADS, POSTINGS  # noqa: E402

# Layers, by module path prefix; the first that matches a frame's file names its layer.
LAYERS = [("fhir_server/api", "HTTP layer (api/)"), ("fhir_server/auth", "tokens (auth/)"),
          ("fhir_server/access", "access rules (access/)"), ("fhir_server/audit", "audit trail (audit/)"),
          ("fhir_server/service", "services (service/)"), ("fhir_server/search", "search values (search/)"),
          ("fhir_server/formats", "formats (formats/)"), ("fhir_server/storage", "storage (storage/)"),
          ("fhir_server/notifications", "notifications"), ("validation/", "validation (validation/)"),
          ("fhirpathpy", "fhirpathpy"), ("jsonschema", "jsonschema"), ("pymongo", "pymongo + bson"),
          ("bson", "pymongo + bson"), ("flask", "Flask + werkzeug"), ("werkzeug", "Flask + werkzeug"),
          ("joserfc", "JWT (joserfc, authlib)"), ("authlib", "JWT (joserfc, authlib)"),
          ("cryptography", "JWT (joserfc, authlib)"), ("json", "JSON")]


class Commands(monitoring.CommandListener):
    """Counts the commands sent, by name and collection, while `counting`."""

    def __init__(self) -> None:
        self.counting = False
        self.seen: Counter = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.counting:
            collection = event.command.get(event.command_name)
            self.seen[f"{event.command_name} {collection}" if isinstance(collection, str) else event.command_name] += 1

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@contextmanager
def database() -> Iterator[tuple[str, str]]:
    uri = os.environ.get("MONGODB_URI")
    name = f"fhir_calls_{uuid.uuid4().hex[:8]}"
    if uri:
        yield uri, name
        pymongo.MongoClient(uri).drop_database(name)
        return
    with tempfile.TemporaryDirectory() as folder:
        ferret = LocalFerretDB(Path(folder))
        os.environ["FERRETDB_SQLITE_DIR"] = str(ferret.sqlite_dir)
        try:
            yield ferret.start(), name
        finally:
            ferret.stop()


def layer_of(filename: str, function: str) -> str:
    if filename == "~":  # built-ins: socket reads are the wait for the database's answers
        return "waiting for the database (socket)" if "socket" in function or "select" in function else "built-ins"
    for prefix, layer in LAYERS:
        if prefix in filename:
            return layer
    return "other"


def own_time_by_layer(profile: cProfile.Profile) -> Counter:
    """Seconds of each layer's own code (tottime: a function's time minus its callees')."""
    seconds: Counter = Counter()
    for (filename, _, function), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():
        seconds[layer_of(filename, function)] += tottime
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="times each interaction runs (default 200)")
    parser.add_argument("--clients", type=int, default=8,
                        help="then the same with this many concurrent clients, counting calls only (default 8)")
    args = parser.parse_args(argv)
    commands = Commands()
    monitoring.register(commands)
    with tempfile.TemporaryDirectory() as audit, database() as (uri, name):
        os.environ.setdefault("FHIR_AUDIT_KEY_FILE", str(Path(audit) / "audit.key"))
        os.environ.setdefault("FHIR_AUDIT_CHECKPOINTS", str(Path(audit) / "checkpoints"))
        from fhir_server import create_app
        app = create_app({"mongodb_uri": uri, "database_name": name})
        client = app.test_client()
        software = register_in_process(app, client, "bench/calls.py", ["system/*.cruds"])
        headers = {**software.headers(), "Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
        state: dict = {"patients": [], "documents": []}

        def create_patient(client, i: int) -> None:
            answer = client.post("/fhir/Patient", json=patient(i), headers=headers)
            assert answer.status_code == 201, answer.get_data(as_text=True)
            state["patients"].append(answer.get_json())

        def create_document(client, i: int) -> None:
            subject = state["patients"][i % len(state["patients"])]
            answer = client.post("/fhir/DocumentReference", json=document_reference(subject["id"], i), headers=headers)
            assert answer.status_code == 201, answer.get_data(as_text=True)
            state["documents"].append(answer.get_json())

        def get(path: Callable[[int], str]) -> Callable[..., None]:
            def run(client, i: int) -> None:
                answer = client.get(path(i), headers=headers)
                assert answer.status_code == 200, answer.get_data(as_text=True)
            return run

        def ins(i: int) -> str:
            identifier = state["patients"][i % len(state["patients"])]["identifier"][0]
            return f"{identifier['system']}|{identifier['value']}"
        interactions = [
            ("create Patient", create_patient),
            ("create DocumentReference", create_document),
            ("read Patient", get(lambda i: f"/fhir/Patient/{state['patients'][i % len(state['patients'])]['id']}")),
            ("read DocumentReference",
             get(lambda i: f"/fhir/DocumentReference/{state['documents'][i % len(state['documents'])]['id']}")),
            ("DocumentReference?patient=",
             get(lambda i: f"/fhir/DocumentReference?patient={state['patients'][i % len(state['patients'])]['id']}")),
            ("Patient?identifier=", get(lambda i: f"/fhir/Patient?identifier={ins(i)}")),
        ]
        rows = []
        for label, run in interactions:
            commands.seen.clear()
            profile, wall = cProfile.Profile(), []
            for i in range(args.repeat):
                commands.counting = True
                started = time.perf_counter()
                profile.enable()
                run(client, i)
                profile.disable()
                wall.append(time.perf_counter() - started)
                commands.counting = False
            layers = own_time_by_layer(profile)
            rows.append((label, sum(commands.seen.values()) / args.repeat, commands.seen.copy(),
                         statistics.median(wall) * 1000, layers))
        together = [(label, concurrent_calls(app, commands, run, args.clients, args.repeat))
                    for label, run in interactions] if args.clients > 1 else []
    print_table(rows, args.repeat)
    if together:
        print(f"\n| interaction | database calls, {args.clients} concurrent clients | without the posting lists |")
        print("| --- | ---: | ---: |")
        for label, seen in together:
            print(f"| {label} | {sum(seen.values()) / args.repeat:.2f} | "
                  f"{without_lists(seen) / args.repeat:.2f} |")
    return 0


def without_lists(seen: Counter) -> int:
    """The calls that are not to the posting lists, which only FerretDB needs (storage/postings.py): the calls
    the same interaction sends to MongoDB, which keeps no lists (its indexes serve the searches)."""
    return sum(count for name, count in seen.items() if name.split(" ")[-1] not in (POSTINGS, POSTING_HEADS))


def concurrent_calls(app, commands: Commands, run: Callable, clients: int, repeat: int) -> Counter:
    """The database calls (by command and collection) of `repeat` interactions run by `clients` threads (the
    audit trail then commits several requests' events together)."""
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        client = app.test_client()
        try:
            for i in range(offset, repeat, clients):
                run(client, i)
        except BaseException as error:  # reported below
            errors.append(error)
    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    commands.seen.clear()
    commands.counting = True
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    commands.counting = False
    if errors:
        raise errors[0]
    return commands.seen.copy()


def print_table(rows: list, repeat: int) -> None:
    print("| interaction | database calls | without the posting lists | p50 ms (profiled) | "
          "calls by command and collection |")
    print("| --- | ---: | ---: | ---: | --- |")
    for label, calls, seen, p50, _ in rows:
        detail = ", ".join(f"{name} {count / repeat:g}" for name, count in seen.most_common())
        print(f"| {label} | {calls:g} | {without_lists(seen) / repeat:g} | {p50:.1f} | {detail} |")
    print()
    names = sorted({layer for *_, layers in rows for layer in layers},
                   key=lambda layer: -sum(row[4][layer] for row in rows))
    print("| layer (own CPU, ms per interaction) | " + " | ".join(row[0] for row in rows) + " |")
    print("| --- |" + " ---: |" * len(rows))
    for layer in names:
        print(f"| {layer} | " + " | ".join(f"{row[4][layer] * 1000 / repeat:.2f}" for row in rows) + " |")


if __name__ == "__main__":
    sys.exit(main())
