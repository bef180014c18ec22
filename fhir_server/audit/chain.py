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

Lock-free and without transactions (FerretDB): the links are documents `<key>:<n>` (storage/audit_links.py)
whose `_id` is unique, so of two writers claiming position n exactly one wins and the other reads the winner and
tries n + 1: the chain never forks, and n is claimed only once n - 1 exists, so it has no gap. `append_all`
chains many events in one insert (the group commit of service/audit.py): one link per chain per round, so that
a link is never inserted after a predecessor that lost its position. Each writer remembers the last link it wrote
or read of a chain for `TAIL_SECONDS`, so that a busy chain costs one read by `_id` (that link, confirming it is
still stored) rather than two (the head, then the link it names): a remembered tail another writer has passed
since is found out by the insert failing, then the chain is read forward from it. A head hint (`$max`, it may
lag) tells a writer that remembers nothing where to start reading. A chain deleted (a record purged) by another
process than the one remembering its tail (another node, `retention run`) is found out by that confirming read,
and read again from its start: never continued after its deleted links. A purge racing the very write of an
event of that record remains (as it does in one process).
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone

from pymongo.database import Database

from ..registry import OUR_CANONICAL
from ..storage.audit_links import AuditLinks, link_id
from ..storage.parallel import each
from ..storage.recent import Recent
from .checkpoints import Checkpoints
from .keys import AuditKey, load_key

CHAIN_EXTENSION = f"{OUR_CANONICAL}/StructureDefinition/audit-chain"
SERVER_KEY = "-"
GENESIS = "0" * 64
KEYED = "hmac-sha256"  # a link's `mac`: written with the key (a legacy link has none)
CHAIN_KEY = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # a FHIR id (SERVER_KEY included): never holds the `:` of link ids
_INT_MAX = 2**31 - 1
TAIL_SECONDS = 10.0  # how long a writer trusts the last link it saw of a chain without reading it again
_TAILS_KEPT = 100_000  # chains whose tail a writer remembers (least recently used forgotten first)


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


class AuditChain:
    """The chains of one database, with the audit key and checkpoints (default: from the environment)."""

    def __init__(self, db: Database, key: AuditKey | None = None, checkpoints: Checkpoints | None = None) -> None:
        self.links = AuditLinks(db)
        self.key = key or load_key()
        self.checkpoints = checkpoints or Checkpoints(self.key, db.name)
        self._tails: Recent[tuple[int, str]] = Recent(TAIL_SECONDS, _TAILS_KEPT)  # key -> (position, hash)

    def append(self, key: str, event: dict) -> dict:
        """Chains `event` (which has its id) as the next link of chain `key`; returns a copy carrying the
        chain extension, for the caller to store (and then `confirm`)."""
        return self.append_all([(key, event)])[0]

    def append_all(self, items: list[tuple[str, dict]]) -> list[dict]:
        """Chains each (key, event) in order, events of one chain in the order given; returns the events
        carrying their chain extension, in the same order."""
        for key, _ in items:
            checked_key(key)
        chained: list[dict | None] = [None] * len(items)
        pending = list(range(len(items)))
        while pending:
            this_round, later, keys = [], [], set()
            for index in pending:  # the first pending event of each chain
                (later if items[index][0] in keys else this_round).append(index)
                keys.add(items[index][0])
            links = []
            tails = self._tails_of([items[index][0] for index in this_round])
            for index in this_round:
                key, event = items[index]
                n, previous = tails[key]
                links.append({"_id": link_id(key, n + 1), "key": key, "n": n + 1, "event_id": event["id"],
                              "hash": digest(self.key, previous, event), "previous": previous, "mac": KEYED,
                              "at": datetime.now(timezone.utc)})
            taken = self.links.claim(links)
            for position, (index, link) in enumerate(zip(this_round, links)):
                key = link["key"]
                if position in taken:  # another writer took that position (or the command stopped before it):
                    self._tails.put(key, self._read_tail(key, link["n"] - 1))  # read on, then try again
                    later.append(index)
                else:
                    self._tails.put(key, (link["n"], link["hash"]))
                    chained[index] = _with_extension(items[index][1], link)
            pending = sorted(later)
        return chained  # type: ignore[return-value]

    def confirm(self, key: str, event: dict) -> None:
        """Checkpoints the link of `event` (as `append` returned it) once the event is stored."""
        self.confirm_all([(key, event)])

    def confirm_all(self, items: list[tuple[str, dict]]) -> None:
        """Checkpoints the links of stored events (as `append_all` returned them)."""
        confirmed = []
        for key, event in items:
            n, _, link_hash = carried(event) or (0, "", "")
            if n:
                confirmed.append((key, n, link_hash))
        self.checkpoints.confirm_all(confirmed)

    def hint(self, key: str) -> int:
        """The head's hint of the chain's last position (0: no chain)."""
        return self.links.hint(key)

    def link(self, key: str, n: int) -> dict | None:
        return self.links.link(key, n)

    def _tails_of(self, keys: list[str]) -> dict[str, tuple[int, str]]:
        """(position, hash) of each chain's last link as this writer knows it (0 and GENESIS: no chain), read
        together: a remembered tail confirmed by reading its link alone, the others from the head's hint."""
        remembered = {key: self._tails.get(key) for key in keys}
        return dict(zip(keys, each(lambda key: self._confirmed_tail(key, remembered[key]), keys)))

    def _confirmed_tail(self, key: str, remembered: tuple[int, str] | None) -> tuple[int, str]:
        """The remembered tail while its link is still stored, else the chain's tail as stored: a chain
        deleted by another process (a record purged by another node, or by `retention run`) is then read
        again from its start rather than continued after its deleted links."""
        if remembered is None:
            return self._stored_tail(key)
        n, link_hash = remembered
        if n == 0:
            return remembered  # no chain yet: a chain another writer started makes the insert of link 1 fail
        link = self.link(key, n)
        if link is not None and link.get("hash") == link_hash:
            return remembered
        return self._stored_tail(key)

    def _stored_tail(self, key: str) -> tuple[int, str]:
        """(position, hash) of the link the chain's head hints at, taken as its last."""
        # Taken as the tail as it is (0: a new chain): if links follow, the insert finds its position taken.
        n = self.hint(key)
        last = self.link(key, n) if n else None
        if n and last is None:  # the chain was deleted meanwhile: read it from the start
            return self._read_tail(key, 0)
        return n, last["hash"] if last else GENESIS

    def _read_tail(self, key: str, n: int) -> tuple[int, str]:
        """(position, hash) of the chain's last link, reading forward from position n (0: from the start)."""
        last = self.link(key, n) if n else None
        if last is None:  # no chain, or the chain was deleted meanwhile: from the start
            n = 0
        while True:
            following = self.link(key, n + 1)
            if following is None:
                return n, last["hash"] if last else GENESIS
            n, last = n + 1, following

    def delete_key(self, key: str) -> int:
        """Deletes chain `key` (a purged record's); returns how many links it had. The purge is checkpointed
        first, so that the chain's checkpoints no longer hold (and a crash midway leaves them void too)."""
        self.checkpoints.purged(checked_key(key))
        self._tails.forget(key)
        return self.links.delete_chain(key)


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
