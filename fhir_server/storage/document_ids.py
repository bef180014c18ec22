"""Documents' unique ids (`masterIdentifier`), each claimed by one document across every record.

XDS and MHD refuse a document whose unique id a stored document already has (XDSDuplicateUniqueIdInRegistry,
service/mhd.py). A claim is that rule's commit point: `_id` = the SHA-256 of `system|value`, inserted once,
so that two pushes of one id racing on any nodes cannot both take it, and found by its key on one shard
(a search by identifier would ask every shard: docs/scaling.md). It names the claiming document (`holder`,
`DocumentReference/<id>`), who claimed it (`by`, a writer as access/policy.py names them) and when (`at`).
What a claim held by another document means for a caller is the service's decision; this module inserts,
reads, takes over, releases and forgets claims.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

import pymongo
from pymongo.database import Database

from .mongo import DOCUMENT_IDS

BUILT = "~built"  # the claim saying the documents stored before claims were kept have theirs (`build`)


def unique_id(document: dict | None) -> tuple[str, str] | None:
    """(system, value) of a DocumentReference's masterIdentifier, None when it has none."""
    master = (document or {}).get("masterIdentifier")
    if not isinstance(master, dict) or not isinstance(master.get("value"), str) or not master["value"]:
        return None
    return str(master.get("system") or ""), master["value"]


def key(system: str, value: str) -> str:
    return hashlib.sha256(f"{system}|{value}".encode()).hexdigest()


class DocumentIds:
    def __init__(self, db: Database) -> None:
        self.collection = db[DOCUMENT_IDS]

    def claim(self, system: str, value: str, holder: str, by: str, now: datetime) -> dict | None:
        """Claims the id for `holder`: None when it is now theirs, else the claim that holds it."""
        claim = {"_id": key(system, value), "holder": holder, "by": by, "at": now}
        for _ in range(3):
            try:
                self.collection.insert_one(claim)
                return None
            except pymongo.errors.DuplicateKeyError:
                held = self.collection.find_one({"_id": claim["_id"]})
                if held is not None:
                    return held
        raise RuntimeError(f"the claim of unique id {value} keeps changing")  # released and taken twice over

    def take_over(self, held: dict, holder: str, by: str, now: datetime) -> bool:
        """Gives a claim whose holder no longer has the id to `holder`, if it is still the claim read."""
        done = self.collection.replace_one({"_id": held["_id"], "holder": held["holder"], "at": held["at"]},
                                           {"holder": holder, "by": by, "at": now})
        return done.modified_count == 1

    def release(self, claims: Iterable[tuple[str, str]]) -> None:
        """Gives back the claims (key, holder) of a write that was not done."""
        for claimed, holder in claims:
            self.collection.delete_one({"_id": claimed, "holder": holder})

    def forget(self, documents: Iterable[tuple[str, dict | None]]) -> None:
        """Deletes the claims the (id, version) of purged DocumentReferences held."""
        held = {(key(*found), f"DocumentReference/{document_id}") for document_id, resource in documents
                if (found := unique_id(resource)) is not None}
        self.release(sorted(held))

    def build(self, current: Iterable[dict]) -> int:
        """Once per database: claims the ids of the documents stored before claims were kept (their current
        versions: `id` and FHIR JSON text in `json`); returns how many. Documents written meanwhile claim
        their own; of two stored documents with the same id, the first read keeps it."""
        if self.collection.find_one({"_id": BUILT}) is not None:
            return 0
        claimed = 0
        for doc in current:
            found = unique_id(json.loads(doc["json"])) if doc.get("json") else None
            if found is not None:
                claimed += self.claim(*found, f"DocumentReference/{doc['_id']}", "", doc["ts"]) is None
        try:
            self.collection.update_one({"_id": BUILT}, {"$set": {"holder": None}}, upsert=True)
        except pymongo.errors.DuplicateKeyError:
            pass  # another worker starting at the same time marked it first
        return claimed
