"""`fhir-server serve` without MONGODB_URI: it starts its own FerretDB, keeps data across restarts, and
stops the database when it stops."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pymongo
import requests

from fhir_server.auth.backend_client import register
from fhir_server.storage.ferretdb import SERVER_RECORD, free_port


def start(data_dir, port: int, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    return subprocess.Popen([sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(port),
                             "--workers", "1", "--data", str(data_dir)], env=env, stdout=log, stderr=log)


def wait_ready(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited"
        try:
            if requests.get(f"{base}/metadata", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    raise AssertionError("server did not start")


def ferretdb_port(log_text: str) -> int:
    line = next(line for line in log_text.splitlines() if line.startswith("FerretDB"))
    return int(line.rsplit(":", 1)[1].strip("/"))


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_serve_runs_its_own_database_and_stops_it(tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = start(data_dir, port, log)
        try:
            wait_ready(base, process)
            db_port = ferretdb_port(log_path.read_text())
            with pymongo.MongoClient(f"mongodb://127.0.0.1:{db_port}/") as client:
                db = client[os.environ.get("FHIR_DATABASE", "fhir")]
                token = register(db, base.removesuffix("/fhir"), "Test vendor", ["system/*.cruds"]).headers()
            created = requests.post(f"{base}/Patient", json={"resourceType": "Patient", "gender": "male"},
                                    headers={"Content-Type": "application/fhir+json", **token})
            assert created.status_code == 201
            assert port_open(db_port)
            # where the other commands find this database while it runs (cli._connection)
            record = json.loads((data_dir / SERVER_RECORD).read_text())
            assert record["pid"] == process.pid and record["mongodb_uri"] == f"mongodb://127.0.0.1:{db_port}/"
            assert record["fhir_base"] == base
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl-C
            assert process.wait(timeout=30) == 0
        assert not port_open(db_port), "FerretDB still running after the server stopped"
        assert not (data_dir / SERVER_RECORD).exists(), "a clean stop leaves no record of a running server"
        assert "ERROR" not in log_path.read_text(), log_path.read_text()
        assert f"ready: {base}" in log_path.read_text()

        process = start(data_dir, port, log)  # the data survive a restart
        try:
            wait_ready(base, process)
            again = requests.get(f"{base}/Patient/{created.json()['id']}", headers=token)
            assert again.status_code == 200 and again.json()["gender"] == "male"
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_listening_on_every_interface_needs_the_public_base():
    env = {k: v for k, v in os.environ.items() if k != "FHIR_BASE_URL"}
    refused = subprocess.run([sys.executable, "-m", "fhir_server.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "set FHIR_BASE_URL" in refused.stderr
