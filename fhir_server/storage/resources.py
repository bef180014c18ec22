"""Versioned resource storage: one collection of current versions per resource type, one history.

Documents
- `history`: every version ever written, `_id` = "Type/id/version", with `type`, `rid`, `vid`, `ts`
  (lastUpdated), `method` (POST, PUT, PATCH, DELETE), `deleted`, `resource` (None for a delete tombstone)
  and `content` (the GridFS reference of a Binary's bytes).
- `<Type>` (e.g. `Patient`): the current version of each resource, `_id` = id, same fields. A deleted
  resource keeps a tombstone here so that reads can answer 410 Gone.

Write order, without multi-document transactions (FerretDB has none)
1. Binary bytes, if any, go to GridFS. A crash after this leaves an unreferenced file, never a wrong resource.
2. The new version is inserted into `history` with `pending: true`. This insert is the commit point: its
   `_id` is unique, so of two writers of the same version exactly one succeeds; the other gets a
   `VersionConflict` (answered 409, or 412 when the client sent If-Match).
3. The current document is replaced, conditionally on it still holding the previous version
   (or inserted, for version 1). Applying a version twice is harmless.
4. `pending` is removed from the history document.
If the process dies between 2 and 4, the version is committed but maybe not yet current. `recover()`
(run at start-up) and any writer that collides with a pending version roll it forward by repeating
steps 3 and 4, so the two collections always converge on the history.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import bson
import pymongo
from pymongo.database import Database

from .binaries import BinaryContent
from .mongo import HISTORY


class VersionConflict(Exception):
    """Another writer already created the version this write was to create."""


class ResourceTooLarge(ValueError):
    """The resource does not fit in one database document (16 MB); large content belongs in a Binary."""


@dataclass
class StoredVersion:
    type: str
    id: str
    version: int
    last_updated: datetime
    deleted: bool
    method: str
    resource: dict | None
    content: dict | None = None

    @property
    def last_updated_text(self) -> str:
        return format_instant(self.last_updated)


def format_instant(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)  # BSON dates keep milliseconds


def _from_doc(doc: dict) -> StoredVersion:
    return StoredVersion(type=doc["type"], id=doc["rid"], version=doc["vid"], last_updated=doc["ts"],
                         deleted=doc["deleted"], method=doc["method"], resource=doc.get("resource"),
                         content=doc.get("content"))


class ResourceStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.history = db[HISTORY]
        self.binaries = BinaryContent(db)

    def current(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        """The latest version (possibly a delete tombstone), or None if the resource never existed."""
        doc = self.db[resource_type].find_one({"_id": resource_id})
        return _from_doc(doc) if doc else None

    def version(self, resource_type: str, resource_id: str, version: int) -> StoredVersion | None:
        doc = self.history.find_one({"_id": f"{resource_type}/{resource_id}/{version}"})
        return _from_doc(doc) if doc else None

    def write(self, resource_type: str, resource_id: str, resource: dict | None, previous: int,
              method: str, content: bytes | None = None, index: dict | None = None) -> StoredVersion:
        """Writes version `previous + 1` (resource None deletes); see the module docstring for the order.

        `index` holds top-level search fields (see search/index.py) kept with the version.
        """
        version = previous + 1
        ts = _now()
        if resource is not None:
            meta = dict(resource.get("meta") or {})
            meta["versionId"] = str(version)
            meta["lastUpdated"] = format_instant(ts)
            resource = {**resource, "id": resource_id, "meta": meta}
        doc = {"_id": f"{resource_type}/{resource_id}/{version}", "type": resource_type, "rid": resource_id,
               "vid": version, "ts": ts, "method": method, "deleted": resource is None,
               "resource": resource, "pending": True, **(index or {})}
        if content is not None:
            doc["content"] = self.binaries.put(content, resource.get("contentType") if resource else None)
        try:
            self.history.insert_one(doc)
        except bson.errors.InvalidDocument as e:  # DocumentTooLarge is one
            if content is not None:
                self.binaries.delete(doc["content"])
            raise ResourceTooLarge(f"{resource_type} cannot be stored: {e}")
        except pymongo.errors.DuplicateKeyError:
            if content is not None:
                self.binaries.delete(doc["content"])
            self._roll_forward(self.history.find_one({"_id": doc["_id"]}))
            raise VersionConflict(f"{resource_type}/{resource_id} version {version} was written concurrently")
        self._roll_forward(doc)
        return _from_doc(doc)

    def _roll_forward(self, doc: dict | None) -> None:
        """Makes a committed history version current (steps 3 and 4); idempotent."""
        if not doc or not doc.get("pending"):
            return
        current = {k: v for k, v in doc.items() if k not in ("_id", "pending")}
        collection = self.db[doc["type"]]
        if doc["vid"] == 1:
            try:
                collection.insert_one({"_id": doc["rid"], **current})
            except pymongo.errors.DuplicateKeyError:
                pass  # already applied
        else:
            collection.replace_one({"_id": doc["rid"], "vid": doc["vid"] - 1}, current)
        self.history.update_one({"_id": doc["_id"]}, {"$unset": {"pending": ""}})

    def recover(self) -> int:
        """Completes writes a crash left between history and current; returns how many."""
        pending = list(self.history.find({"pending": True}).sort([("vid", 1)]))
        for doc in pending:
            self._roll_forward(doc)
        return len(pending)

    def history_page(self, resource_type: str, resource_id: str | None, since: datetime | None,
                     before: datetime, offset: int, count: int) -> tuple[list[StoredVersion], int]:
        """Versions written in [since, before], newest first, with the total number of them."""
        query: dict = {"type": resource_type, "ts": {"$lte": before}}
        if resource_id is not None:
            query["rid"] = resource_id
        if since is not None:
            query["ts"]["$gte"] = since
        order = [("vid", -1)] if resource_id is not None else [("ts", -1), ("_id", -1)]
        total = self.history.count_documents(query)
        docs = self.history.find(query).sort(order).skip(offset).limit(count) if count else []
        return [_from_doc(d) for d in docs], total

    def find_current(self, resource_type: str, query: dict, limit: int) -> list[StoredVersion]:
        """Live (not deleted) current versions matching a query built by the search package."""
        docs = self.db[resource_type].find({**query, "deleted": False}).limit(limit)
        return [_from_doc(d) for d in docs]

    def content(self, version: StoredVersion) -> bytes:
        return self.binaries.get(version.content) if version.content else b""
