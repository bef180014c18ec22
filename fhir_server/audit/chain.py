"""Tamper-evidence for the audit trail: each AuditEvent is chained by a keyed hash to the previous one of its
chain, and checkpointed outside the database once stored.

A chain per patient (key = the Patient id); events that touch no patient go to the server's chain
(`SERVER_KEY`). Link n of a chain holds `hash` = HMAC-SHA256, with the audit key (keys.py, kept outside the
database), of (link n-1's hash, or 64 zeros for n = 1) followed by the canonical JSON of the event without
its `meta` and without the chain extension (`content`). Links written before the key existed hold a plain
SHA-256 instead: verify.py accepts them as `legacy`, at the start of a chain only. `append` records the link
and returns the event carrying the same data (sequence, previous, hash) in the `CHAIN_EXTENSION` extension;
the caller stores the event as an AuditEvent resource with its own id, then calls `confirm`, which appends a
checkpoint (checkpoints.py) outside the database. verify.py recomputes every chain from the stored events
and holds it to its checkpoints.

Lock-free and without transactions (FerretDB): the links are documents `<key>:<n, 12 digits>` in
`AUDIT_CHAIN`; `_id` is unique, so of two writers claiming position n exactly one wins and the other reads
the winner and tries n + 1: the chain never forks, and n is claimed only once n - 1 exists, so it has no gap.
A head document `<key>:head` keeps a hint of the last position (`$max`, it may lag); a writer walks forward
from it. FerretDB v1 hands SQLite only a lone `{_id: <string>}` filter (anything else scans the collection),
so `append` reads and writes by `_id` only; verify.py and `delete_key`, offline or rare, may scan.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone

import pymongo
from pymongo.database import Database

from ..registry import OUR_CANONICAL
from ..storage.mongo import AUDIT_CHAIN
from .checkpoints import Checkpoints
from .keys import AuditKey, load_key

CHAIN_EXTENSION = f"{OUR_CANONICAL}/StructureDefinition/audit-chain"
SERVER_KEY = "-"
GENESIS = "0" * 64
KEYED = "hmac-sha256"  # a link's `mac`: written with the key (a legacy link has none)
CHAIN_KEY = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # a FHIR id (SERVER_KEY included): never holds the `:` of link ids
_INT_MAX = 2**31 - 1


def content(event: dict) -> str:
    """What a link's hash covers: the event's canonical JSON without `meta` and the chain extension."""
    body = {name: value for name, value in event.items() if name not in ("meta", "extension")}
    others = [e for e in event.get("extension") or [] if e.get("url") != CHAIN_EXTENSION]
    if others:
        body["extension"] = others
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(key: AuditKey, previous: str, event: dict) -> str:
    """A link's hash: HMAC-SHA256 of the previous hash and the event's content."""
    return key.mac(previous + content(event))


def legacy_digest(previous: str, event: dict) -> str:
    """The hash of a link written before the key existed: plain SHA-256."""
    return hashlib.sha256((previous + content(event)).encode("utf-8")).hexdigest()


def checked_key(key: str) -> str:
    if not isinstance(key, str) or not CHAIN_KEY.fullmatch(key):
        raise ValueError(f"Not a chain key (a FHIR id): {key!r}")
    return key


def _link_id(key: str, n: int) -> str:
    return f"{key}:{n:012d}"


def _head_id(key: str) -> str:
    return f"{key}:head"


class AuditChain:
    """The chains of one database, with the audit key and checkpoints (default: from the environment)."""

    def __init__(self, db: Database, key: AuditKey | None = None, checkpoints: Checkpoints | None = None) -> None:
        self.links = db[AUDIT_CHAIN]
        self.key = key or load_key()
        self.checkpoints = checkpoints or Checkpoints(self.key, db.name)

    def append(self, key: str, event: dict) -> dict:
        """Chains `event` (which has its id) as the next link of chain `key`; returns a copy carrying the
        chain extension, for the caller to store (and then `confirm`)."""
        checked_key(key)
        # The head is a hint: the next position is tried at once, and a taken one is followed forward.
        n = self.hint(key)
        last = self.link(key, n) if n else None
        if n and last is None:  # the chain was deleted meanwhile
            n, last = self._tail(key, 0)
        while True:
            previous = last["hash"] if last else GENESIS
            link = {"_id": _link_id(key, n + 1), "key": key, "n": n + 1, "event_id": event["id"],
                    "hash": digest(self.key, previous, event), "previous": previous, "mac": KEYED,
                    "at": datetime.now(timezone.utc)}
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

    def confirm(self, key: str, event: dict) -> None:
        """Checkpoints the link of `event` (as `append` returned it) once the event is stored."""
        n, _, link_hash = carried(event) or (0, "", "")
        if n:
            self.checkpoints.confirm(key, n, link_hash)

    def hint(self, key: str) -> int:
        """The head's hint of the chain's last position (0: no chain)."""
        head = self.links.find_one({"_id": _head_id(key)})
        return head["last"] if head else 0

    def link(self, key: str, n: int) -> dict | None:
        return self.links.find_one({"_id": _link_id(key, n)})

    def _tail(self, key: str, n: int) -> tuple[int, dict | None]:
        """(position, link) of the chain's last link, walking forward from position n (0: from the start)."""
        last = self.link(key, n) if n else None
        if n and last is None:  # the chain was deleted meanwhile: start again
            n = 0
        while True:
            following = self.link(key, n + 1)
            if following is None:
                return n, last
            n, last = n + 1, following

    def delete_key(self, key: str) -> int:
        """Deletes chain `key` (a purged record's); returns how many links it had. The purge is checkpointed
        first, so that the chain's checkpoints no longer hold (and a crash midway leaves them void too)."""
        self.checkpoints.purged(checked_key(key))
        self.links.delete_one({"_id": _head_id(key)})
        return self.links.delete_many({"key": key}).deleted_count


def _with_extension(event: dict, link: dict) -> dict:
    n = link["n"]
    sequence = {"url": "sequence", "valueInteger": n} if n <= _INT_MAX else {"url": "sequence", "valueString": str(n)}
    chain = {"url": CHAIN_EXTENSION, "extension": [
        sequence, {"url": "previous", "valueString": link["previous"]}, {"url": "hash", "valueString": link["hash"]}]}
    others = [e for e in event.get("extension") or [] if e.get("url") != CHAIN_EXTENSION]
    return {**event, "extension": [*others, chain]}


def carried(event: dict) -> tuple[int, str, str] | None:
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
