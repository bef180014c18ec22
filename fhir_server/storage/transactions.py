"""Transactions without multi-document database transactions: all of a Bundle's writes become visible, or none.

Documents in `transactions`:
- `<tx>`: the transaction's plan, one `{t: type, i: id, p: previous version}` per resource it writes, and
  `expires`, the writer's lease (renewed while it writes).
- `<tx>:decision`: `{outcome: "commit" | "abort"}`, inserted once. Its `_id` is unique, so of a writer
  committing and a sweeper aborting (the writer's lease ran out) exactly one wins; nobody changes it after.

A transaction, once the service has checked every entry (nothing is written before that):
1. Its plan is inserted with a lease.
2. Each write reserves its version: posting lists, Binary bytes, then the history version, marked `tx: <tx>`
   (ResourceStore.reserve). Taking the version number makes a concurrent writer of the same resource fail
   with a conflict, as any write does. A marked version is invisible while its transaction is undecided
   or aborted: reads, history and the projection (hence searches) skip it.
3. Commit point: the decision `commit` is inserted. If an `abort` is there already, the transaction failed.
4. Each resource's current document is projected from its history: the writes become readable and searchable.
   (During these milliseconds a read by id may still show a resource's previous version.)
5. The marks are removed from the versions, then the plan and the decision are deleted.
An abort (a failed write, or a lost lease) voids the reserved versions instead: they stay in the history,
marked `void` and emptied, so that their number is never taken again (versions skip it; FHIR version ids
need not be consecutive), and their Binary bytes are deleted. Voiding is idempotent, so several sweepers
may abort the same transaction safely, which deleting the versions would not be.

Recovery: `sweep()` runs at start-up and before each transaction. A transaction decided `commit` is
completed (4, 5); one decided `abort`, or undecided with an expired lease (its writer died), is aborted and
voided. So a process killed at any point leaves every write of a transaction or none: none visible until
the commit point, all of them once it is passed.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pymongo
from pymongo.database import Database

from .mongo import TRANSACTIONS

RESERVE_BATCH = 100  # writes reserved together; the lease is renewed between two batches


class TransactionAborted(Exception):
    """The transaction was aborted before its commit point (its lease ran out): nothing of it is visible."""


@dataclass
class Write:
    """One resource written by a transaction: version `previous + 1` (or the next free one)."""
    type: str
    id: str
    resource: dict | None  # None deletes
    previous: int
    method: str
    content: bytes | None = None
    index: dict | None = None


class TransactionLog:
    """The plans and decisions; what readers ask to know whether a marked version is visible."""

    def __init__(self, db: Database) -> None:
        self.collection = db[TRANSACTIONS]
        self._committed: dict[str, None] = {}  # decided commits seen, most recent last (bounded)

    def decide(self, tx: str, outcome: str) -> str:
        """Records `outcome` for `tx` unless an outcome is recorded already; returns the recorded one."""
        try:
            self.collection.insert_one({"_id": f"{tx}:decision", "outcome": outcome})
            return outcome
        except pymongo.errors.DuplicateKeyError:
            return self.outcome(tx) or outcome  # deleted meanwhile: the transaction is finished

    def outcome(self, tx: str) -> str | None:
        if tx in self._committed:
            return "commit"
        decision = self.collection.find_one({"_id": f"{tx}:decision"})
        outcome = decision["outcome"] if decision else None
        if outcome == "commit":
            self._committed[tx] = None
            if len(self._committed) > 10_000:
                self._committed.pop(next(iter(self._committed)))
        return outcome

    def visible(self, doc: dict, reread) -> dict | None:
        """`doc` (a history version) if readers may see it, else None. `reread()` reads it again: when its
        transaction is gone (finished) the version was unmarked (committed) or voided (aborted) since."""
        if doc.get("void"):
            return None
        tx = doc.get("tx")
        if tx is None:
            return doc
        outcome = self.outcome(tx)
        if outcome == "commit":
            return doc
        if outcome is None and self.collection.find_one({"_id": tx}, {"_id": 1}) is None:
            again = reread()
            return again if again and not again.get("void") and "tx" not in again else None
        return None


class Transactions:
    """Writes a set of resources all or nothing (see the module docstring)."""

    def __init__(self, store, lease_seconds: float) -> None:
        self.store = store  # storage.resources.ResourceStore
        self.log: TransactionLog = store.transactions
        self.lease = timedelta(seconds=lease_seconds)

    def write_all(self, writes: list[Write]) -> list:
        """Writes every one of `writes` or none; the StoredVersions written, in order. Raises VersionConflict
        (a resource changed since the service read it) or TransactionAborted, having written nothing."""
        self.sweep()
        tx = uuid.uuid4().hex
        plan = [{"t": w.type, "i": w.id, "p": w.previous} for w in writes]
        self.log.collection.insert_one({"_id": tx, "plan": plan, "expires": self._expiry()})
        reserved = []
        try:
            for start in range(0, len(writes), RESERVE_BATCH):
                if start:
                    self.log.collection.update_one({"_id": tx}, {"$set": {"expires": self._expiry()}})
                reserved += self.store.reserve_all(writes[start:start + RESERVE_BATCH], tx)
            if self.log.decide(tx, "commit") != "commit":
                raise TransactionAborted("The transaction took longer than its lease and was aborted")
        except BaseException:
            if self.log.decide(tx, "abort") == "abort":
                self._void(tx, plan)
            raise
        self._complete(tx, plan, [r.doc for r in reserved])
        return [r.version for r in reserved]

    def sweep(self) -> int:
        """Completes committed transactions, aborts those decided so or whose writer's lease expired;
        returns how many it finished."""
        finished = 0
        now = datetime.now(timezone.utc)
        for doc in list(self.log.collection.find({})):
            tx = doc["_id"]
            if "plan" not in doc:
                if self.log.collection.find_one({"_id": tx.partition(":")[0]}, {"_id": 1}) is None:
                    self.log.collection.delete_one({"_id": tx})  # the decision of a finished transaction
                continue
            outcome = self.log.outcome(tx)
            if outcome is None and doc["expires"] < now:
                outcome = self.log.decide(tx, "abort")
            if outcome == "commit":
                self._complete(tx, doc["plan"])
            elif outcome == "abort":
                self._void(tx, doc["plan"])
            else:
                continue
            finished += 1
        return finished

    def _expiry(self) -> datetime:
        return datetime.now(timezone.utc) + self.lease

    def _complete(self, tx: str, plan: list[dict], docs: list[dict] | None = None) -> None:
        """Steps 4 and 5: project every resource, unmark its version, forget the transaction. `docs`, the
        reserved versions when the writer completes its own transaction, lets new resources be projected in
        one bulk insert and unmarked without probing."""
        projected: set[tuple[str, str]] = set()
        if docs:
            projected = self.store.project_new(docs)
        for item in plan:
            if (item["t"], item["i"]) not in projected:
                self.store.project(item["t"], item["i"])
        reserved = docs if docs is not None else [doc for item in plan for doc in self._reserved(tx, item)]
        for doc in reserved:
            self.store.history.update_one({"_id": doc["_id"]}, {"$unset": {"tx": ""}})
        self._forget(tx)

    def _void(self, tx: str, plan: list[dict]) -> None:
        for item in plan:
            for doc in self._reserved(tx, item):
                if doc.get("content"):
                    self.store.binaries.delete(doc["content"])
                self.store.history.update_one({"_id": doc["_id"]},
                                              {"$set": {"void": True, "json": None}, "$unset": {"tx": ""}})
        self._forget(tx)

    def _forget(self, tx: str) -> None:
        self.log.collection.delete_one({"_id": tx})
        self.log.collection.delete_one({"_id": f"{tx}:decision"})

    def _reserved(self, tx: str, item: dict) -> list[dict]:
        """The history versions `tx` reserved for one resource: after its previous version, marked `tx`."""
        found, version = [], item["p"] + 1
        while True:
            doc = self.store.history.find_one({"_id": f"{item['t']}/{item['i']}/{version}"})
            if doc is None:
                return found
            if doc.get("tx") == tx:
                found.append(doc)
            version += 1
