"""A server killed in the middle of a transaction leaves none of it, before and after it restarts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pymongo
import requests

from fhir_server.auth.backend_client import register
from fhir_server.storage.ferretdb import free_port
from tests.conftest import REPO_ROOT
from tests.test_serve import wait_ready

from .client import HEADERS

ENTRIES = 800
LEASE_SECONDS = 2


def start_server(uri: str, name: str, log) -> tuple[subprocess.Popen, str]:
    """The server in its own process group, so that SIGKILL takes its workers down with it."""
    port = free_port()
    env = {**os.environ, "MONGODB_URI": uri, "FHIR_DATABASE": name,
           "FHIR_TRANSACTION_LEASE_SECONDS": str(LEASE_SECONDS)}
    process = subprocess.Popen([sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(port),
                                "--workers", "1", "--threads", "4"], env=env, stdout=log, stderr=subprocess.STDOUT,
                               cwd=REPO_ROOT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/fhir"
    wait_ready(base, process)
    return process, base


def test_a_transaction_killed_midway_leaves_nothing(database, tmp_path):
    uri, name = database
    name = f"{name}_crash"
    client = pymongo.MongoClient(uri, tz_aware=True)
    db = client[name]
    system = f"urn:crash:{uuid.uuid4().hex}"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "identifier": [{"system": system, "value": str(n)}]},
         "request": {"method": "POST", "url": "Patient"}} for n in range(ENTRIES)]}
    log = open(tmp_path / "server.log", "wb")
    process, base = start_server(uri, name, log)
    token = register(db, base.removesuffix("/fhir"), "Test vendor", ["system/*.cruds"]).headers()
    try:
        answers: list = []
        sender = threading.Thread(target=lambda: answers.append(_post(base, bundle, token)), daemon=True)
        sender.start()
        deadline = time.monotonic() + 120
        while db["history"].count_documents({"tx": {"$exists": True}}) < 100:
            assert sender.is_alive() and time.monotonic() < deadline, f"no kill point: {answers}"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        sender.join(timeout=30)
        reserved = db["history"].count_documents({"tx": {"$exists": True}})
        assert 100 <= reserved < ENTRIES and db["transactions"].count_documents({"plan": {"$exists": True}}) == 1
        assert db["Patient"].count_documents({}) == 0  # nothing current, nothing searchable

        process, base = start_server(uri, name, log)
        token = register(db, base.removesuffix("/fhir"), "Test vendor", ["system/*.cruds"]).headers()  # new port
        assert _found(base, system, token) == 0
        time.sleep(LEASE_SECONDS + 0.5)  # the dead writer's lease runs out; the next transaction sweeps
        assert _post(base, {"resourceType": "Bundle", "type": "transaction"}, token).status_code == 200
        assert db["transactions"].count_documents({}) == 0
        assert db["history"].count_documents({"tx": {"$exists": True}}) == 0
        assert db["history"].count_documents({"void": True}) == reserved
        assert _found(base, system, token) == 0
        assert requests.get(f"{base}/Patient/_history", headers={**HEADERS, **token}).json()["total"] == 0

        small = {**bundle, "entry": bundle["entry"][:3]}
        assert _post(base, small, token).status_code == 200
        assert _found(base, system, token) == 3
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        log.close()
        client.drop_database(name)
        client.close()


def _post(base: str, bundle: dict, token: dict):
    try:
        return requests.post(base, json=bundle, headers={**HEADERS, **token}, timeout=300)
    except requests.RequestException as error:  # the server was killed under it
        return error


def _found(base: str, system: str, token: dict) -> int:
    response = requests.get(f"{base}/Patient", params={"identifier": f"{system}|", "_summary": "count"},
                            headers={**HEADERS, **token})
    assert response.status_code == 200, response.text
    return response.json()["total"]
