"""The database commands an in-process app sends (pymongo command monitoring), by interaction: what
tests/scale/test_sharding_plan.py holds to the plan in docs/scaling.md."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pymongo import monitoring

# The commands that read or write documents, and where each keeps its filter(s).
FILTERS = {"find": "filter", "count": "query", "distinct": "query", "findAndModify": "query",
           "aggregate": "pipeline"}
STATEMENTS = {"update": ("updates", "q"), "delete": ("deletes", "q")}


@dataclass(frozen=True)
class Sent:
    """One command to one collection: its name and each filter it carries (an insert: the documents)."""
    command: str
    collection: str
    filters: tuple[dict, ...]
    documents: tuple[dict, ...] = ()
    upserts: tuple[dict, ...] = ()  # the update statements with upsert: their filters and updates
    write_concern: dict | None = None  # as the command names it (pymongo adds the client's to its own)


@dataclass
class Commands(monitoring.CommandListener):
    """Records the commands of the database `name` sent while `labelled` names an interaction."""
    name: str
    sent: dict[str, list[Sent]] = field(default_factory=dict)
    label: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def labelled(self, label: str) -> Iterator[None]:
        self.label = label
        try:
            yield
        finally:
            self.label = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.label is None or event.database_name != self.name:
            return
        command, name = event.command, event.command_name
        collection = command.get(name)
        if not isinstance(collection, str):
            return
        filters: tuple[dict, ...] = ()
        documents: tuple[dict, ...] = ()
        upserts: tuple[dict, ...] = ()
        if name in FILTERS:
            value = command.get(FILTERS[name]) or {}
            if name == "aggregate":
                value = next((stage["$match"] for stage in value if "$match" in stage), {})
            filters = (dict(value),)
        elif name in STATEMENTS:
            key, inner = STATEMENTS[name]
            statements = list(command.get(key) or [])
            filters = tuple(dict(s.get(inner) or {}) for s in statements)
            upserts = tuple(dict(s) for s in statements if s.get("upsert"))
        elif name == "insert":
            documents = tuple(dict(d) for d in command.get("documents") or [])
        if collection.endswith(".chunks") or collection.endswith(".files") or name in FILTERS or \
                name in STATEMENTS or name == "insert":
            with self.lock:
                self.sent.setdefault(self.label, []).append(Sent(name, collection, filters, documents, upserts,
                                                                 command.get("writeConcern")))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass
