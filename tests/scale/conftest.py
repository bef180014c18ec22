"""Several application nodes on one database, as a load balancer spreads clients over them.

`Nodes` starts N `fhir-server serve` processes (each with its own gunicorn workers and audit writer) on one
database, all configured with the same public base (FHIR_BASE_URL: the load balancer's address, which no
process listens on here): tokens name that origin whichever node issued them, as behind a real balancer.
Clients pick a node per request (`node(i)`), so that every shared state is met by several processes.
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests

from fhir_server.auth.backend_client import BackendClient, register
from fhir_server.storage.ferretdb import free_port
from tests.conftest import REPO_ROOT, Server


class Node(Server):
    """`fhir-server serve` as conftest's Server starts it, in a session of its own, so that `crash` takes the
    whole node down at once (gunicorn's arbiter, its workers and the audit writer), as a machine failing."""

    def __init__(self, uri: str, name: str, log_path: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.log = open(log_path, "wb")
        self.log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(self.port), "--workers", "2",
             "--threads", "4"], env={**os.environ, "MONGODB_URI": uri, "FHIR_DATABASE": name, **env},
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True)

    def crash(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()


class Nodes:
    def __init__(self, uri: str, name: str, log_dir: Path, count: int = 3, env: dict[str, str] | None = None):
        self.uri, self.name = uri, name
        self.public = f"http://127.0.0.1:{free_port()}"  # the balancer's origin: what tokens and links name
        self.env = {"FHIR_BASE_URL": f"{self.public}/fhir", **(env or {})}
        self.log_dir = log_dir
        self.servers = [Node(uri, name, log_dir / f"node{i}.log", self.env) for i in range(count)]
        self._turn = itertools.count()

    def wait_ready(self) -> None:
        for server in self.servers:
            server.wait_ready(timeout=120)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def restart(self, i: int) -> None:
        """Node i started again (on another port) after a crash."""
        self.servers[i] = Node(self.uri, self.name, self.log_dir / f"node{i}-restarted.log", self.env)
        self.servers[i].wait_ready(timeout=120)

    def __len__(self) -> int:
        return len(self.servers)

    def origin(self, i: int) -> str:
        return f"http://127.0.0.1:{self.servers[i % len(self.servers)].port}"

    def base(self, i: int) -> str:
        """Node i's FHIR base (modulo the node count)."""
        return f"{self.origin(i)}/fhir"

    def next_base(self) -> str:
        """Round robin, as a balancer does."""
        return self.base(next(self._turn))

    def on_node(self, url: str, i: int) -> str:
        """A URL the server wrote (public base) sent to node i instead."""
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == self.public, url
        return self.origin(i) + url[len(self.public):]

    def post_round_robin(self, url: str, form: dict) -> tuple[int, dict]:
        """BackendClient's `post`: the token endpoint of the next node (the audience stays the public one)."""
        node = self.origin(next(self._turn))
        response = requests.post(node + url[len(self.public):], data=form, timeout=30)
        return response.status_code, response.json()

    def software(self, db, name: str, scopes: list[str] | None = None,
                 professional: dict | None = None) -> BackendClient:
        return register(db, self.public, name, scopes or ["system/*.cruds"], post=self.post_round_robin,
                        professional=professional)

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        """`fhir-server ARGS` on the nodes' database, beside them."""
        return subprocess.run([sys.executable, "-m", "fhir_server.cli", *args], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=180,
                              env={**os.environ, "MONGODB_URI": self.uri, "FHIR_DATABASE": self.name, **env})
