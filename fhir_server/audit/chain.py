"""Tamper-evidence for the audit trail: each AuditEvent is chained by hash to the previous one of its chain.

A chain per patient (key = the Patient id); events that touch no patient go to the server's chain
(`SERVER_KEY`). Link n of a chain holds `hash` = sha-256 hex of (link n-1's hash, or 64 zeros for n = 1)
followed by the canonical JSON of the event without its `meta` and without the chain extension (`content`).
`append` records the link and returns the event carrying the same data (sequence, previous, hash) in the
`CHAIN_EXTENSION` extension; the caller then stores the event as an AuditEvent resource with its own id.
`verify` recomputes every chain from the stored events: a changed event, a removed or edited link, a
removed event are each reported, at the first broken link of each chain.

Lock-free and without transactions (FerretDB): the links are documents `<key>:<n, 12 digits>` in
`AUDIT_CHAIN`; `_id` is unique, so of two writers claiming position n exactly one wins and the other reads
the winner and tries n + 1: the chain never forks, and n is claimed only once n - 1 exists, so it has no gap.
A head document `<key>:head` keeps a hint of the last position (`$max`, it may lag); a writer walks forward
from it. FerretDB v1 hands SQLite only a lone `{_id: <string>}` filter (anything else scans the collection),
so `append` reads and writes by `_id` only; `verify` and `delete_key`, offline or rare, may scan.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pymongo
from pymongo.database import Database

from ..registry import OUR_CANONICAL
from ..storage.mongo import AUDIT_CHAIN

CHAIN_EXTENSION = f"{OUR_CANONICAL}/StructureDefinition/audit-chain"
SERVER_KEY = "-"
GENESIS = "0" * 64
PENDING_GRACE = timedelta(seconds=60)  # how long a writer may take to store the event it chained
REASONS = {
    "gap": "link missing (sequence gap)",
    "previous": "previous-hash mismatch",
    "missing": "event missing",
    "changed": "event content changed",
    "hash": "link hash altered",
    "extension": "event's chain extension differs from its link",
    "pending": "event not stored yet",
}
_KEY = re.compile(r"[^:]+")  # link ids are `<key>:<n>`: a colon in a key could collide with them
_INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class Problem:
    key: str
    sequence: int
    event_id: str | None
    reason: str  # a key of REASONS

    def __str__(self) -> str:
        event = f" AuditEvent/{self.event_id}" if self.event_id else ""
        return f"chain {self.key} #{self.sequence}{event}: {REASONS[self.reason]}"


@dataclass
class Report:
    chains: int = 0
    events: int = 0
    broken: list[Problem] = field(default_factory=list)   # the first broken link of each broken chain
    pending: list[Problem] = field(default_factory=list)  # links whose event may still be being stored

    @property
    def intact(self) -> bool:
        return not self.broken


def content(event: dict) -> str:
    """What a link's hash covers: the event's canonical JSON without `meta` and the chain extension."""
    body = {name: value for name, value in event.items() if name not in ("meta", "extension")}
    others = [e for e in event.get("extension") or [] if e.get("url") != CHAIN_EXTENSION]
    if others:
        body["extension"] = others
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(previous: str, event: dict) -> str:
    return hashlib.sha256((previous + content(event)).encode("utf-8")).hexdigest()


def _link_id(key: str, n: int) -> str:
    return f"{key}:{n:012d}"


def _head_id(key: str) -> str:
    return f"{key}:head"


def _checked(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"Not a chain key (a non-empty string without ':'): {key!r}")
    return key


class AuditChain:
    def __init__(self, db: Database) -> None:
        self.links = db[AUDIT_CHAIN]

    def append(self, key: str, event: dict) -> dict:
        """Chains `event` (which has its id) as the next link of chain `key`; returns a copy carrying the
        chain extension, for the caller to store."""
        _checked(key)
        # The head is a hint: the next position is tried at once, and a taken one is followed forward.
        n = self._hint(key)
        last = self.links.find_one({"_id": _link_id(key, n)}) if n else None
        if n and last is None:  # the chain was deleted meanwhile
            n, last = self._tail(key, 0)
        while True:
            previous = last["hash"] if last else GENESIS
            link = {"_id": _link_id(key, n + 1), "key": key, "n": n + 1, "event_id": event["id"],
                    "hash": _digest(previous, event), "previous": previous, "at": datetime.now(timezone.utc)}
            try:
                self.links.insert_one(link)
                break
            except pymongo.errors.DuplicateKeyError:  # another writer took n + 1: follow it
                n, last = self._tail(key, n + 1)
        head = {"$max": {"last": link["n"]}, "$set": {"key": key}}
        try:
            self.links.update_one({"_id": _head_id(key)}, head, upsert=True)
        except pymongo.errors.DuplicateKeyError:  # two first writers both inserted the head
            self.links.update_one({"_id": _head_id(key)}, head)
        return _with_extension(event, link)

    def _hint(self, key: str) -> int:
        head = self.links.find_one({"_id": _head_id(key)})
        return head["last"] if head else 0

    def _tail(self, key: str, n: int) -> tuple[int, dict | None]:
        """(position, link) of the chain's last link, walking forward from position n (0: from the start)."""
        last = self.links.find_one({"_id": _link_id(key, n)}) if n else None
        if n and last is None:  # the chain was deleted meanwhile: start again
            n = 0
        while True:
            following = self.links.find_one({"_id": _link_id(key, n + 1)})
            if following is None:
                return n, last
            n, last = n + 1, following

    def delete_key(self, key: str) -> int:
        """Deletes chain `key` (a purged record's); returns how many links it had."""
        self.links.delete_one({"_id": _head_id(_checked(key))})
        return self.links.delete_many({"key": key}).deleted_count

    def verify(self, read_event: Callable[[str], dict | None], key: str | None = None,
               grace: timedelta = PENDING_GRACE) -> Report:
        """Recomputes each chain (or chain `key`) from the stored events, `read_event(id)` reading one."""
        report = Report()
        keys = [_checked(key)] if key is not None else sorted(self.links.distinct("key"))
        now = datetime.now(timezone.utc)
        for chain_key in keys:
            self._verify_chain(chain_key, read_event, now - grace, report)
        return report

    def _verify_chain(self, key: str, read_event: Callable[[str], dict | None], young: datetime,
                      report: Report) -> None:
        last = self._hint(key)
        previous, n = GENESIS, 0
        while True:
            link = self.links.find_one({"_id": _link_id(key, n + 1)})
            if link is None:
                if n < last:  # removed links, in the middle or at the end
                    report.broken.append(Problem(key, n + 1, None, "gap"))
                break
            n += 1
            report.events += 1
            reason = _check(link, previous, read_event)
            if reason == "missing" and _aware(link["at"]) > young:
                report.pending.append(Problem(key, n, link["event_id"], "pending"))
            elif reason:
                report.broken.append(Problem(key, n, link["event_id"], reason))
                break
            previous = link["hash"]
        if n or last:
            report.chains += 1


def _check(link: dict, previous: str, read_event: Callable[[str], dict | None]) -> str | None:
    """Why this link is broken (a key of REASONS), or None."""
    if link["previous"] != previous:
        return "previous"
    event = read_event(link["event_id"])
    if event is None:
        return "missing"
    digest = _digest(previous, event)
    carried = _carried(event)
    if digest != link["hash"]:
        # The event agrees with what it carried when chained: its link was altered, not the event.
        return "hash" if carried and carried[2] == digest else "changed"
    if carried != (link["n"], link["previous"], link["hash"]):
        return "extension"
    return None


def _with_extension(event: dict, link: dict) -> dict:
    n = link["n"]
    sequence = {"url": "sequence", "valueInteger": n} if n <= _INT_MAX else {"url": "sequence", "valueString": str(n)}
    chain = {"url": CHAIN_EXTENSION, "extension": [
        sequence, {"url": "previous", "valueString": link["previous"]}, {"url": "hash", "valueString": link["hash"]}]}
    others = [e for e in event.get("extension") or [] if e.get("url") != CHAIN_EXTENSION]
    return {**event, "extension": [*others, chain]}


def _carried(event: dict) -> tuple[int, str, str] | None:
    """(sequence, previous, hash) of the event's chain extension, or None when it has none (or a bad one)."""
    for extension in event.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == CHAIN_EXTENSION:
            values = {e.get("url"): e.get("valueInteger", e.get("valueString"))
                      for e in extension.get("extension") or [] if isinstance(e, dict)}
            try:
                return int(values["sequence"]), values["previous"], values["hash"]
            except (KeyError, TypeError, ValueError):
                return None
    return None


def _aware(moment: datetime) -> datetime:
    """A stored datetime as UTC (a client without tz_aware reads naive UTC datetimes)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def verify_command(db: Database, read_event: Callable[[str], dict | None], key: str | None) -> int:
    """`fhir-server audit verify [--patient ID]`: prints one line per broken chain (or a summary when all are
    intact) and returns the exit code: 0 intact, 1 broken."""
    report = AuditChain(db).verify(read_event, key)
    for problem in report.broken:
        print(problem)
    if report.intact:
        pending = f" ({len(report.pending)} not stored yet)" if report.pending else ""
        print(f"{report.chains} chains, {report.events} events: intact{pending}")
    return 0 if report.intact else 1
