"""Versioned resource storage: one collection of current versions per resource type, one history.

Documents
- `history`: every version ever written, `_id` = "Type/id/version", with `type`, `rid`, `vid`, `ts`
  (lastUpdated), `method` (POST, PUT, PATCH, DELETE), `deleted`, `json` (the resource as FHIR JSON text,
  None for a delete tombstone: text keeps decimals exactly and costs the database no parsing), `content`
  (the GridFS reference of a Binary's bytes) and the `ix_*` search fields (search/index.py).
- `<Type>` (e.g. `Patient`): the current version of each resource, `_id` = id, same fields. A deleted
  resource keeps a tombstone here so that reads can answer 410 Gone.

Write order, without multi-document transactions (FerretDB has none)
1. Binary bytes, if any, go to GridFS. A crash after this leaves an unreferenced file, never a wrong resource.
2. The new version is inserted into `history` with `pending: true`. This insert is the commit point: its
   `_id` is unique, so of two writers of the same version exactly one succeeds; the other gets a
   `VersionConflict` (answered 409, or 412 when the client sent If-Match).
3. The current document is made a copy of the latest history version of that resource (the projection).
   The copy is conditional on the current document holding an older version, which MongoDB applies
   atomically; FerretDB v1 evaluates such a filter and then writes, so a slow writer can put back an
   older version. Hence the writer then reads the current document and the latest history version again
   and repeats the copy until they agree: the last writer to touch the current document always leaves it
   at the latest version, and no write is lost.
4. `pending` is removed from the history document.
If the process dies between 2 and 4, the version is committed but maybe not yet current. `recover()`
(run at start-up) projects every resource with a pending version, and a writer that collides with a
version projects it before answering 409, so the two collections always converge on the history.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import bson
import pymongo
from pymongo.database import Database

from ..formats.fhir_json import dumps, loads
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
    text: str | None
    content: dict | None = None
    _parsed: dict | None = field(default=None, repr=False, compare=False)

    @property
    def resource(self) -> dict | None:
        """The resource (parsed once from its JSON text), None for a deletion."""
        if self._parsed is None and self.text is not None:
            self._parsed = loads(self.text)
        return self._parsed

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
                         deleted=doc["deleted"], method=doc["method"], text=doc.get("json"),
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
               "json": dumps(resource) if resource is not None else None, "pending": True, **(index or {})}
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
            self._project(resource_type, resource_id)
            raise VersionConflict(f"{resource_type}/{resource_id} version {version} was written concurrently")
        self._project(resource_type, resource_id, doc)
        self.history.update_one({"_id": doc["_id"]}, {"$unset": {"pending": ""}})
        written = _from_doc(doc)
        written._parsed = resource
        return written

    def _latest(self, resource_type: str, resource_id: str) -> dict | None:
        found = self.history.find({"type": resource_type, "rid": resource_id}).sort("vid", -1).limit(1)
        return next(iter(found), None)

    def _project(self, resource_type: str, resource_id: str, latest: dict | None = None) -> None:
        """Step 3: makes the current document the latest history version (see the module docstring)."""
        collection = self.db[resource_type]
        for _ in range(100):
            latest = latest or self._latest(resource_type, resource_id)
            if latest is None:
                return
            current = collection.find_one({"_id": resource_id}, {"vid": 1})
            if current is not None and current["vid"] >= latest["vid"]:
                if current["vid"] == latest["vid"]:
                    return
            else:
                projection = {k: v for k, v in latest.items() if k not in ("_id", "pending")}
                try:
                    collection.replace_one({"_id": resource_id, "vid": {"$lt": latest["vid"]}}, projection,
                                           upsert=True)
                except pymongo.errors.DuplicateKeyError:
                    pass  # a newer version is current already
            latest = None  # check against the history again
        raise RuntimeError(f"{resource_type}/{resource_id}: current version does not settle")

    def recover(self) -> int:
        """Completes writes a crash left between history and current; returns how many."""
        pending = list(self.history.find({"pending": True}, {"type": 1, "rid": 1}))
        for doc in pending:
            self._project(doc["type"], doc["rid"])
            self.history.update_one({"_id": doc["_id"]}, {"$unset": {"pending": ""}})
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
