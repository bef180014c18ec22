"""One audit writer per server: the workers hand their AuditEvents to it, and it commits them in groups.

`fhir-server serve` starts it beside gunicorn (`python -m fhir_server.service.audit_writer`) on a Unix socket in
a folder of its own (mode 0700), with a random key each connection must prove it holds (multiprocessing's
HMAC challenge); the workers find both in FHIR_AUDIT_WRITER and FHIR_AUDIT_WRITER_KEY. Each worker thread keeps
one connection and sends a request's events (chain key, event, index fields each); the writer commits what all
workers sent meanwhile in one group (service/group_commit.py) and answers each request with its events as
stored, or the error. Being the only
writer of the chains and lists it remembers, it never finds a position taken by another process, and its
groups hold the events of every worker. A purged record's chain is deleted by the writer too, so that it
forgets that chain's tail rather than chain a later event to a deleted link.

The workers do not depend on it: one that cannot connect writes its events itself (AuditTrail's own group
commit, correct however many writers race, only slower). A connection lost after an event was sent answers
that request with a database error (503) rather than writing the event a second time.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

from ..storage import DatabaseError
from ..storage.ferretdb import die_with_parent

ADDRESS = "FHIR_AUDIT_WRITER"
KEY = "FHIR_AUDIT_WRITER_KEY"
SubmitAll = Callable[[list[tuple[str, dict, dict]]], list[dict]]
DeleteChain = Callable[[str], int]
RECORD, DELETE_CHAIN = "record", "delete-chain"  # what a worker asks: record an event, delete a chain


def serve_forever(submit_all: SubmitAll, delete_chain: DeleteChain, address: str, authkey: bytes,
                  ready: threading.Event | None = None) -> None:
    """Accepts the workers' connections and does what they ask, a thread per connection: `submit_all` commits
    a request's events, `delete_chain` deletes a purged record's chain."""
    with Listener(address, family="AF_UNIX", authkey=authkey) as listener:
        if ready is not None:
            ready.set()
        while True:
            try:
                connection = listener.accept()
            except (OSError, EOFError, AuthenticationError):  # a client without the key, or gone meanwhile
                continue
            threading.Thread(target=_answer, args=(submit_all, delete_chain, connection), daemon=True).start()


def _answer(submit_all: SubmitAll, delete_chain: DeleteChain, connection: Connection) -> None:
    handlers: dict[str, Callable] = {RECORD: submit_all, DELETE_CHAIN: delete_chain}
    with connection:
        while True:
            try:
                kind, item = connection.recv()
            except (EOFError, OSError, TypeError, ValueError):
                return
            try:
                answer = ("ok", handlers[kind](item))
            except DatabaseError as error:
                answer = ("database", str(error))
            except Exception as error:  # noqa: BLE001 - the worker answers it as its own failure
                answer = ("error", f"{type(error).__name__}: {error}")
            try:
                connection.send(answer)
            except OSError:
                return


def from_environment() -> tuple[str, bytes] | None:
    """(socket, key) of the writer `serve` started, when it did."""
    address, key = os.environ.get(ADDRESS), os.environ.get(KEY)
    return (address, bytes.fromhex(key)) if address and key else None


class RemoteWriter:
    """A worker's side: `submit` sends to the writer on this thread's connection, or, when the writer cannot
    be reached, commits locally with `local`."""

    def __init__(self, address: str, authkey: bytes, local: SubmitAll, local_delete: DeleteChain) -> None:
        self.address, self.authkey, self.local, self.local_delete = address, authkey, local, local_delete
        self._connections = threading.local()

    def submit_all(self, items: list[tuple[str, dict, dict]]) -> list[dict]:
        return self._ask(RECORD, items, self.local)

    def delete_chain(self, key: str) -> int:
        return self._ask(DELETE_CHAIN, key, self.local_delete)

    def _ask(self, kind: str, item: object, local: Callable):
        connection = self._connection()
        if connection is None:
            return local(item)
        try:
            connection.send((kind, item))
            kind, value = connection.recv()
        except (OSError, EOFError) as error:
            self._connections.value = None
            raise DatabaseError(f"the audit writer went away before answering: {error}") from error
        if kind == "ok":
            return value
        if kind == "database":
            raise DatabaseError(value)
        raise RuntimeError(f"audit writer: {value}")

    def _connection(self) -> Connection | None:
        connection = getattr(self._connections, "value", None)
        if connection is None:
            try:
                connection = Client(self.address, family="AF_UNIX", authkey=self.authkey)
            except (OSError, EOFError, AuthenticationError):
                return None
            self._connections.value = connection
        return connection


class WriterProcess:
    """The writer started by `serve`, dying with it; `environment` is what the workers need to reach it."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="fhir-audit-"))  # mode 0700
        self.address = str(self.folder / "writer.sock")
        self.key = secrets.token_hex(32)
        self.process: subprocess.Popen | None = None
        self.owner = os.getpid()  # gunicorn's workers are forks of serve: they leave the writer alone

    @property
    def environment(self) -> dict[str, str]:
        return {ADDRESS: self.address, KEY: self.key}

    def start(self, timeout: float = 30.0) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "fhir_server.service.audit_writer"],
                                        env={**os.environ, **self.environment}, preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.address):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the audit writer did not start (see its output above)")
            time.sleep(0.05)

    def stop(self) -> None:
        if os.getpid() != self.owner:
            return
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        Path(self.address).unlink(missing_ok=True)
        self.folder.rmdir()


def main() -> None:
    from ..config import Settings
    from ..storage.mongo import connect
    from ..storage.resources import ResourceStore
    from .audit import AuditTrail
    settings = Settings.from_mapping()
    trail = AuditTrail(ResourceStore(connect(settings.mongodb_uri, settings.database_name, settings.concerns)))
    serve_forever(trail.commit_all, trail.chain.delete_key, os.environ[ADDRESS], bytes.fromhex(os.environ[KEY]))


if __name__ == "__main__":
    main()
