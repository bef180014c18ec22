"""When the database goes away, requests get a 503 OperationOutcome, not a 500 or a hang."""
from __future__ import annotations

import os
import subprocess
import sys

import pymongo
import requests

from fhir_server.auth.backend_client import register
from fhir_server.storage.ferretdb import LocalFerretDB, free_port
from tests.test_serve import wait_ready


def test_database_outage_is_503_with_retry_after(tmp_path):
    ferret = LocalFerretDB(tmp_path / "db")
    uri = ferret.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    env = {**os.environ, "MONGODB_URI": uri, "FHIR_DATABASE": "outage", "FERRETDB_SQLITE_DIR": str(ferret.sqlite_dir)}
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(port),
                                   "--workers", "1"], env=env, stdout=log, stderr=log)
        try:
            wait_ready(base, server)
            with pymongo.MongoClient(uri) as client:
                token = register(client["outage"], base.removesuffix("/fhir"), "Vendor", ["system/*.cruds"]).headers()
            created = requests.post(f"{base}/Patient", json={"resourceType": "Patient"},
                                    headers={"Content-Type": "application/fhir+json", **token})
            assert created.status_code == 201
            ferret.stop()
            response = requests.get(f"{base}/Patient/{created.json()['id']}", headers=token, timeout=30)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert response.json()["issue"][0]["code"] == "transient"
        finally:
            server.terminate()
            server.wait(timeout=30)
            ferret.stop()
