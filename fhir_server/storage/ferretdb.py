"""A local FerretDB (MongoDB wire protocol over SQLite) for `fhir-server serve` and the tests.

The binary is built by scripts/build-ferretdb.sh into .cache/bin/ferretdb. It listens on a free
loopback port, keeps its data in the folder it is given, sends no telemetry, and dies with its
parent process (so a killed server never leaves it running).

FerretDB v1.24 (SQLite) hands only one kind of filter to SQLite, `{_id: value}`, as
`_ferretdb_sjson->'$._id' = ?`; but it indexes `_id` as `_ferretdb_sjson->"_id"`, which SQLite does not
recognise as the same expression, so every lookup by id scans the whole table (34 ms instead of 0.7 ms
at 20,000 documents). `index_id_lookups` adds the index SQLite can use, to each collection's table.
"""
from __future__ import annotations

import ctypes
import json
import sqlite3
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pymongo

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / ".cache" / "bin" / "ferretdb"
_PR_SET_PDEATHSIG = 1


class DatabaseStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """Runs in a child process before exec: the child gets SIGTERM when its parent dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


SYNCHRONOUS = ("full", "normal")


class LocalFerretDB:
    """One FerretDB process with its data under `data_dir`.

    SQLite runs in WAL mode (FerretDB's default) with `synchronous` FULL unless FHIR_SQLITE_SYNCHRONOUS says
    `normal`. FULL syncs the log to disk at every commit: an acknowledged write survives a power cut or an
    operating-system crash. NORMAL syncs only at checkpoints: writes are about twice as fast, a crash of the
    server or of FerretDB still loses nothing, but a power cut or an OS crash can lose the last writes
    acknowledged (never corrupting the database), as MongoDB's default write concern can."""

    def __init__(self, data_dir: Path, binary: Path | None = None, synchronous: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.binary = Path(binary or os.environ.get("FERRETDB_BINARY") or DEFAULT_BINARY)
        self.synchronous = (synchronous or os.environ.get("FHIR_SQLITE_SYNCHRONOUS") or "full").lower()
        if self.synchronous not in SYNCHRONOUS:
            raise ValueError(f"FHIR_SQLITE_SYNCHRONOUS must be one of {', '.join(SYNCHRONOUS)}, "
                             f"not {self.synchronous!r}")
        self.process: subprocess.Popen | None = None
        self.uri = ""

    @property
    def sqlite_dir(self) -> Path:
        return self.data_dir / "sqlite"

    def start(self, timeout: float = 30.0) -> str:
        if not self.binary.is_file():
            raise DatabaseStartError(f"{self.binary} is missing: run scripts/setup.sh (or set MONGODB_URI)")
        sqlite_dir = self.sqlite_dir
        sqlite_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log = open(self.data_dir / "ferretdb.log", "ab")
        self.process = subprocess.Popen(
            [str(self.binary), "--handler=sqlite",
             f"--sqlite-url=file:{sqlite_dir}/?_pragma=synchronous({self.synchronous})",
             f"--listen-addr=127.0.0.1:{port}", f"--state-dir={self.data_dir}", "--telemetry=disable",
             "--debug-addr=-", "--log-level=warn"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
        )
        log.close()
        self.uri = f"mongodb://127.0.0.1:{port}/"
        self._wait_for_ping(timeout)
        return self.uri

    def _wait_for_ping(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500, connect=False)
        try:
            while True:
                if self.process.poll() is not None:
                    raise DatabaseStartError(
                        f"FerretDB exited with {self.process.returncode}; see {self.data_dir / 'ferretdb.log'}")
                try:
                    client.admin.command("ping")
                    return
                except pymongo.errors.PyMongoError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise DatabaseStartError(f"FerretDB did not answer ping within {timeout} s")
                    time.sleep(0.1)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> "LocalFerretDB":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def index_id_lookups(sqlite_dir: Path, database_name: str) -> int:
    """Adds the `_id` index FerretDB's own lookups can use (see the module docstring) to every table of
    one database; returns how many tables it covered. Creating an index that exists is a no-op."""
    path = Path(sqlite_dir) / f"{database_name}.sqlite"
    if not path.is_file():
        return 0
    connection = sqlite3.connect(path, timeout=30)
    try:
        tables = [row[0] for row in connection.execute("SELECT table_name FROM _ferretdb_collections")]
        for table in tables:
            connection.execute(f'CREATE INDEX IF NOT EXISTS "{table}_id_lookup" '
                               f"ON \"{table}\" (_ferretdb_sjson->'$._id')")
        connection.commit()
        return len(tables)
    finally:
        connection.close()


# Where a running `serve` says its FerretDB listens, in its data folder: the commands given the same folder
# use that database instead of starting a FerretDB of their own on the same files (seconds each).
SERVER_RECORD = "server.json"


def write_server_record(data_dir: Path, uri: str, database_name: str, fhir_base: str,
                        ferretdb_pid: int | None) -> Path:
    """Written by `serve` once its database answers (mode 0600, replaced atomically); removed at a clean stop
    (`remove_server_record`). A crash leaves it behind: `running_server` then finds its pid gone."""
    path = Path(data_dir) / SERVER_RECORD
    partial = path.with_name(f".{SERVER_RECORD}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"pid": os.getpid(), "ferretdb_pid": ferretdb_pid, "mongodb_uri": uri,
                   "database": database_name, "fhir_base": fhir_base}, out)
    os.replace(partial, path)
    return path


def remove_server_record(data_dir: Path) -> None:
    """Removes the record if this process wrote it (gunicorn's workers, forks of `serve`, leave it)."""
    path = Path(data_dir) / SERVER_RECORD
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def running_server(data_dir: Path, timeout_ms: int = 1000) -> tuple[dict, pymongo.MongoClient] | None:
    """(the record, a client of its database) when a `serve` on `data_dir` is alive and its database answers
    a ping; else None (no server, a stale record left by a crash, a pid reused by another program)."""
    try:
        record = json.loads((Path(data_dir) / SERVER_RECORD).read_text(encoding="utf-8"))
        uri = record["mongodb_uri"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (isinstance(uri, str) and _alive(record.get("pid"))):
        return None
    client = pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=timeout_ms,
                                 connectTimeoutMS=timeout_ms, appname="fhir-server")
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError:
        client.close()
        return None
    return record, client
