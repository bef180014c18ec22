"""The database commands of a search, counted in process: bench/search.py's measure of flatness that machine
load does not blur. The app runs in the benchmark's process (Flask's test client, the same database and a
professional's token, as the HTTP server serves it) under pymongo command monitoring; a read is by `_id`
when its filter (a find's, or an aggregation's first `$match`) is a lone `{_id: <string>}`, the one filter
FerretDB hands to SQLite's index; any other read of a collection that grows with the store (the resources,
their history, posting lists, records) is a scan there. Other reads of the small collections (a worker
reloading the token revocations now and then) are not counted."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from pymongo import monitoring

from fhir_server.registry import RESOURCES
from fhir_server.storage.mongo import HISTORY, POSTING_HEADS, POSTINGS, RECORDS

GROWING = {*RESOURCES, HISTORY, POSTINGS, POSTING_HEADS, RECORDS}
READS = ("find", "aggregate", "count", "distinct")
WRITES = ("insert", "update", "delete", "findAndModify")


@dataclass
class Counts:
    by_id: int = 0
    other_reads: int = 0
    writes: int = 0
    scans: list[str] = field(default_factory=list)  # collection and filter of the reads not by `_id`
    log: list[str] = field(default_factory=list)  # every command: its name, collection and filter, in order


class Commands(monitoring.CommandListener):
    """Counts the commands sent while `counting` is set."""

    def __init__(self) -> None:
        self.counts: Counts | None = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        counts, command = self.counts, event.command
        if counts is None:
            return
        target = command.get(event.command_name)
        counts.log.append(f"{event.command_name} {target} "
                          f"{command.get('filter', command.get('pipeline', command.get('updates', '')))}"[:160])
        if event.command_name in WRITES:
            counts.writes += 1
        elif event.command_name in READS:
            query = command.get("filter", command.get("query"))
            if event.command_name == "aggregate":
                query = (command.get("pipeline") or [{}])[0].get("$match")
            if isinstance(query, dict) and list(query) == ["_id"] and isinstance(query["_id"], str):
                counts.by_id += 1
            elif command[event.command_name] in GROWING:
                counts.other_reads += 1
                counts.scans.append(f"{command[event.command_name]} {query}")

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@contextmanager
def in_process(uri: str, name: str) -> Iterator[Callable[[str, list[tuple[str, str]]], Counts]]:
    """`count(resource_type, params)`: runs one search through the app, returns its commands."""
    commands = Commands()
    monitoring.register(commands)  # before the app's client is made: it reports to every later client
    from fhir_server import create_app
    from fhir_server.auth.backend_client import register_in_process
    app = create_app({"mongodb_uri": uri, "database_name": name})
    client = app.test_client()
    software = register_in_process(app, client, "bench/search_commands.py", ["system/*.cruds"])

    def count(resource_type: str, params: list[tuple[str, str]]) -> Counts:
        headers = {"Accept": "application/fhir+json", **software.headers()}
        commands.counts = counts = Counts()
        try:
            answer = client.get(f"/fhir/{resource_type}?{urlencode(params)}", headers=headers)
        finally:
            commands.counts = None
        if answer.status_code != 200:
            raise RuntimeError(f"{resource_type}?{urlencode(params)}: {answer.get_data(as_text=True)[:500]}")
        return counts
    yield count
