"""Claims: what only one resource may hold (a document's unique id, a conditional create's criteria), made
exact by a unique `_id` that exactly one writer can insert, whichever node or worker it runs on.

A claim names its `holder` (`Type/id`, the resource that holds it or is being written to), who claimed it
(`by`) and when (`at`). It is taken before its resource is written and given back (`release`) when the write
is not done; a claim whose holder no longer holds it (deleted, changed, or never written: a crash) is
taken over (`take_over`), and only if it is still the claim read. What a claim held by another resource
means for a caller is the service's decision (service/mhd.py, service/resources.py).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pymongo
from pymongo.database import Database

LEASE = timedelta(seconds=60)  # a claim whose holder is not stored by then was left by a write that failed


def claim_key(text: str) -> str:
    """A claim's `_id`: the SHA-256 of what is claimed (spread evenly, and no identifier stored as such)."""
    return hashlib.sha256(text.encode()).hexdigest()


class Claims:
    def __init__(self, db: Database, collection: str) -> None:
        self.collection = db[collection]

    def claim(self, key: str, holder: str, by: str, now: datetime) -> dict | None:
        """Claims `key` for `holder`: None when it is now theirs, else the claim that holds it."""
        for _ in range(3):
            try:
                self.collection.insert_one({"_id": key, "holder": holder, "by": by, "at": now})
                return None
            except pymongo.errors.DuplicateKeyError:
                held = self.collection.find_one({"_id": key})
                if held is not None:
                    return held
        raise RuntimeError(f"claim {key} keeps changing")  # given back and taken again twice over

    def take_over(self, held: dict, holder: str, by: str, now: datetime) -> bool:
        """Gives a claim its holder no longer holds to `holder`, if it is still the claim read."""
        done = self.collection.replace_one({"_id": held["_id"], "holder": held["holder"], "at": held["at"]},
                                           {"holder": holder, "by": by, "at": now})
        return done.modified_count == 1

    def release(self, claims: Iterable[tuple[str, str]]) -> None:
        """Gives back the claims (key, holder) of writes that were not done (or of purged holders)."""
        for key, holder in claims:
            self.collection.delete_one({"_id": key, "holder": holder})

    def forget(self, holders: list[str]) -> None:
        """Deletes the claims of purged resources (`Type/id`), found by their holder (every shard: rare)."""
        if holders:
            self.collection.delete_many({"holder": {"$in": holders}})

    def mark(self, name: str) -> None:
        """Marks a one-off task (`name`) done, once, whichever starting worker does it first."""
        try:
            self.collection.update_one({"_id": name}, {"$set": {"holder": None}}, upsert=True)
        except pymongo.errors.DuplicateKeyError:
            pass  # another worker starting at the same time marked it first

    def marked(self, name: str) -> bool:
        return self.collection.find_one({"_id": name}) is not None


@dataclass
class Taken:
    """The claims a write took, to give back (`release`) should it not be done."""
    held: list[tuple[Claims, str, str]] = field(default_factory=list)

    def add(self, claims: Claims, key: str, holder: str) -> None:
        self.held.append((claims, key, holder))

    def holds(self, claims: Claims, key: str) -> bool:
        """Whether this write took that claim already (another entry of its transaction did)."""
        return any(taken is claims and taken_key == key for taken, taken_key, _ in self.held)

    def release(self) -> None:
        for claims, key, holder in self.held:
            claims.release([(key, holder)])
        self.held.clear()

    @contextmanager
    def given_back_on_failure(self) -> Iterator[None]:
        """Gives the claims back if the block raises (the write they were taken for is not done)."""
        try:
            yield
        except BaseException:
            self.release()
            raise
