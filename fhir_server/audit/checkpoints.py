"""Checkpoints of the audit chains, kept outside the database: what `audit verify` holds each chain to.

After storing an event, its writer appends one line to a file of its own process,
`<FHIR_AUDIT_CHECKPOINTS>/<database>/<host>-<pid>.jsonl` (by default the folder `audit-checkpoints` beside
the key file):
    {"at": "<UTC instant>", "hash": "<link hash>", "key": "<chain>", "n": <position>, "mac": "<HMAC>"}
and purging a chain (a record deleted for good) appends {"at", "key", "purged": true, "mac"} before the links
go. The MAC (audit key) covers the line's other fields and the database's name, so a line cannot be forged,
edited, or copied from another database's folder without the key. One file per process and one `write` per
group of lines (O_APPEND) keep concurrent writers from mixing lines; nothing is synced to disk per line (the cost on
every request is one system call).

A line confirms that the event at that position was stored, and pins the chain's hash there: a chain
shorter than its checkpoints, or with another hash at a checkpointed position, was truncated or rewritten.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .keys import AuditKey

log = logging.getLogger(__name__)
_files: dict[Path, int] = {}  # this process's open checkpoint files (their names hold its pid)
_files_lock = threading.Lock()


@dataclass
class Seen:
    """What the checkpoints say: each chain's checkpointed positions (since its last purge) and their hashes."""
    chains: dict[str, dict[int, str]] = field(default_factory=dict)
    lines: int = 0
    rejected: list[str] = field(default_factory=list)  # `file:line` whose MAC fails (altered, or another key)


def checkpoints_folder(key: AuditKey) -> Path:
    """FHIR_AUDIT_CHECKPOINTS, else `audit-checkpoints` beside the key file."""
    return Path(os.environ.get("FHIR_AUDIT_CHECKPOINTS") or key.path.parent / "audit-checkpoints")


class Checkpoints:
    def __init__(self, key: AuditKey, database: str, folder: Path | None = None) -> None:
        self.key = key
        self.database = database
        self.folder = (folder or checkpoints_folder(key)) / database

    def confirm(self, chain: str, n: int, digest: str) -> None:
        """Records that the event at position `n` of `chain` (link hash `digest`) is stored."""
        self.confirm_all([(chain, n, digest)])

    def confirm_all(self, links: list[tuple[str, int, str]]) -> None:
        """Records that the events at these (chain, position, link hash) are stored, in one write. A failure
        to write is logged, not raised: the events are stored, only the evidence of their storage is lost."""
        if not links:
            return
        try:
            self._append(*({"key": chain, "n": n, "hash": digest} for chain, n, digest in links))
        except OSError as error:
            log.error("audit checkpoint not written to %s: %s", self.folder, error)

    def purged(self, chain: str) -> None:
        """Records that `chain` is being deleted for good (its checkpoints no longer hold)."""
        self._append({"key": chain, "purged": True})

    def read(self, chain: str | None = None) -> Seen:
        """Every process's checkpoints (only `chain`'s when given)."""
        seen, entries = Seen(), []
        for path in sorted(self.folder.glob("*.jsonl")) if self.folder.is_dir() else []:
            with open(path, encoding="utf-8", errors="replace") as lines:
                for number, line in enumerate(lines, 1):
                    entry = self._checked(line)
                    if entry is None:
                        seen.rejected.append(f"{path}:{number}")
                    elif chain is None or entry["key"] == chain:
                        entries.append(entry)
        seen.lines = len(entries)
        for entry in sorted(entries, key=lambda e: e["at"]):
            if entry.get("purged"):
                seen.chains.pop(entry["key"], None)
            else:
                seen.chains.setdefault(entry["key"], {})[entry["n"]] = entry["hash"]
        return seen

    def _mac(self, entry: dict) -> str:
        body = {name: value for name, value in entry.items() if name != "mac"}
        return self.key.mac(json.dumps({**body, "db": self.database}, sort_keys=True, separators=(",", ":")))

    def _checked(self, line: str) -> dict | None:
        """The line's entry when it is well formed and its MAC holds."""
        try:
            entry = json.loads(line)
            valid = (isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("at"), str)
                     and (entry.get("purged") is True or (isinstance(entry.get("n"), int)
                                                          and isinstance(entry.get("hash"), str))))
        except ValueError:
            return None
        return entry if valid and entry.get("mac") == self._mac(entry) else None

    def _append(self, *entries: dict) -> None:
        at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        lines = []
        for entry in entries:
            entry = {**entry, "at": at}
            lines.append(json.dumps({**entry, "mac": self._mac(entry)}, sort_keys=True, separators=(",", ":")) + "\n")
        os.write(self._descriptor(), "".join(lines).encode("utf-8"))

    def _descriptor(self) -> int:
        """This process's file, opened once (a forked worker has a pid, so a file, of its own)."""
        path = self.folder / f"{socket.gethostname()}-{os.getpid()}.jsonl"
        with _files_lock:
            if path not in _files:
                self.folder.mkdir(parents=True, exist_ok=True)
                _files[path] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            return _files[path]
