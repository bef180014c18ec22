"""Shared fixtures: one real database and one real server (gunicorn) for the whole test run.

The database is MONGODB_URI when set (a throwaway database in it, dropped afterwards), otherwise a
FerretDB started on a free loopback port with its data in a temporary folder.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymongo
import pytest
import requests

from fhir_server.auth.backend_client import BackendClient, register, register_in_process
from fhir_server.storage.ferretdb import LocalFerretDB, free_port
from fhir_server.storage.mongo import ensure_indexes

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session", autouse=True)
def audit_key(tmp_path_factory) -> Iterator[Path]:
    """The audit key file of this run, and its checkpoints beside it, for every server and command the tests
    start (they inherit the environment) and for the chains made in the tests' own process."""
    folder = tmp_path_factory.mktemp("audit")
    saved = {name: os.environ.get(name) for name in ("FHIR_AUDIT_KEY_FILE", "FHIR_AUDIT_CHECKPOINTS")}
    os.environ["FHIR_AUDIT_KEY_FILE"] = str(folder / "audit.key")
    os.environ["FHIR_AUDIT_CHECKPOINTS"] = str(folder / "checkpoints")
    yield folder / "audit.key"
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    """(uri, database name) of a real MongoDB-wire database for this run."""
    name = f"fhir_test_{uuid.uuid4().hex[:8]}"
    uri = os.environ.get("MONGODB_URI")
    if uri:
        yield uri, name
        pymongo.MongoClient(uri).drop_database(name)
        return
    ferret = LocalFerretDB(tmp_path_factory.mktemp("ferretdb"))
    os.environ["FERRETDB_SQLITE_DIR"] = str(ferret.sqlite_dir)  # for the server (storage/ferretdb.py)
    try:
        yield ferret.start(), name
    finally:
        ferret.stop()
        del os.environ["FERRETDB_SQLITE_DIR"]


@pytest.fixture(scope="session")
def db(database):
    uri, name = database
    client = pymongo.MongoClient(uri, tz_aware=True)
    yield client[name]
    client.close()


class Server:
    """`fhir-server serve` in a subprocess, on a free port; `env` adds settings (FHIR_BASE_URL...)."""

    def __init__(self, uri: str, name: str, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        env = {**os.environ, "MONGODB_URI": uri, "FHIR_DATABASE": name, **(env or {})}
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(self.port), "--workers", "2",
             "--threads", "4"], env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        self.log_path = log_path

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.base}/metadata", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy starting
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@contextmanager
def own_server(database: tuple[str, str], log_dir: Path, suffix: str) -> Iterator[tuple]:
    """A server on a database of the caller's own (the run's name + `suffix`), dropped afterwards: (database
    (uri, name), pymongo database, server base URL, a session of software allowed everything)."""
    uri, name = database[0], f"{database[1]}_{suffix}"
    client = pymongo.MongoClient(uri, tz_aware=True)
    server = Server(uri, name, log_dir / "server.log")
    try:
        server.wait_ready()
        vendor = register(client[name], server.base.removesuffix("/fhir"), f"Vendor ({suffix})", ["system/*.cruds"])
        with requests.Session() as http:
            http.headers.update(vendor.headers())
            yield (uri, name), client[name], server.base, http
    finally:
        server.stop()
        client.drop_database(name)
        client.close()


# What the run's server knows of revocations and clients' statuses may be this old (FHIR_TOKEN_RECHECK_SECONDS):
# short, so that the tests of a suspension or a revocation wait little. A test waits the bound and this margin.
RECHECK_SECONDS = 1
RECHECK_MARGIN = 0.5


@pytest.fixture(scope="session")
def server(database, tmp_path_factory):
    uri, name = database
    srv = Server(uri, name, tmp_path_factory.mktemp("server") / "server.log",
                 {"FHIR_TOKEN_RECHECK_SECONDS": str(RECHECK_SECONDS)})
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def base(server) -> str:
    """The FHIR base URL of the running server."""
    return server.base


@pytest.fixture(scope="session")
def vendor(db, base) -> BackendClient:
    """Referenced vendor software allowed everything (system/*.cruds), registered in the test database."""
    ensure_indexes(db, [])
    return register(db, base.removesuffix("/fhir"), "Test vendor", ["system/*.cruds"])


@pytest.fixture()
def http(vendor):
    """An HTTP session carrying the vendor's access token, as referenced software calls the server."""
    with requests.Session() as session:
        session.headers.update(vendor.headers())
        yield session


def app_client(app) -> tuple:
    """(Flask test client, headers with an access token) for an app made in the test (`create_app`)."""
    client = app.test_client()
    software = register_in_process(app, client, "In-process test vendor", ["system/*.cruds"])
    return client, software.headers()
