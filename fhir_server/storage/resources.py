"""Versioned resource storage: one collection of current versions per resource type, one history.

Documents
- `history`: every version ever written, `_id` = "Type/id/version", with `type`, `rid`, `vid`, `ts`
  (lastUpdated), `method` (POST, PUT, PATCH, DELETE), `deleted`, `json` (the resource as FHIR JSON text,
  None for a delete tombstone: text keeps decimals exactly and costs the database no parsing), `content`
  (the GridFS reference of a Binary's bytes) and the search fields (`s:family`, `r:subject`...;
  search/values.py).
- `<Type>` (e.g. `Patient`): the current version of each resource, `_id` = id, same fields. A deleted
  resource keeps a tombstone here so that reads can answer 410 Gone.
- `write_journal`: one small document per write under way, naming the resource and the history `_id`.

Every read and write of a single resource addresses documents by `_id` alone: it is the one filter FerretDB
v1 (SQLite) hands to SQLite instead of scanning the collection in Go. Versions are numbered 1, 2, 3...
without gaps, so the latest one is found by probing the `_id` after the current one.

Write order, without multi-document transactions (FerretDB has none)
1. Binary bytes, if any, go to GridFS. A crash after this leaves an unreferenced file, never a wrong resource.
2. The write is entered in `write_journal`.
3. The new version is inserted into `history`. This insert is the commit point: its `_id` is unique, so
   of two writers of the same version exactly one succeeds; the other gets a `VersionConflict`
   (answered 409, or 412 when the client sent If-Match).
4. The current document is made a copy of the latest history version of that resource (the projection).
   On MongoDB the copy is conditional on the current document holding an older version, which MongoDB
   applies atomically. FerretDB v1 has no atomic conditional update (it reads, filters, then writes), so
   there the copy is unconditional and a slow writer can put back an older version. Either way the writer
   then reads the current document and probes the history again, and repeats the copy until they agree:
   the last writer to touch the current document always leaves it at the latest version.
5. The journal entry is removed.
If the process dies between 2 and 5, `recover()` (run at start-up) projects every resource named in the
journal, and a writer that collides with a version projects it before answering 409, so the two
collections always converge on the history. A journal entry whose history insert never happened is
simply removed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import bson
import pymongo
from pymongo.database import Database

from ..formats.fhir_json import dumps, loads
from .binaries import BinaryContent
from .candidates import candidate_ids, matching_docs, sort_docs
from .mongo import HISTORY, JOURNAL
from .postings import Postings, posting_keys


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
        self.journal = db[JOURNAL]
        self.binaries = BinaryContent(db)
        self.ferretdb = "ferretdbVersion" in db.client.admin.command("buildInfo")
        # FerretDB scans a collection for any filter but `_id`: posting lists stand in for indexes there.
        self.postings = Postings(db) if self.ferretdb else None

    def current(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        """The latest version (possibly a delete tombstone), or None if the resource never existed."""
        doc = self.db[resource_type].find_one({"_id": resource_id})
        return _from_doc(doc) if doc else None

    def version(self, resource_type: str, resource_id: str, version: int) -> StoredVersion | None:
        doc = self.history.find_one({"_id": _history_id(resource_type, resource_id, version)})
        return _from_doc(doc) if doc else None

    def write(self, resource_type: str, resource_id: str, resource: dict | None, previous: int,
              method: str, content: bytes | None = None, index: dict | None = None) -> StoredVersion:
        """Writes version `previous + 1` (resource None deletes); see the module docstring for the order.

        `index` holds the top-level search fields (see search/values.py) kept with the version.
        """
        version = previous + 1
        ts = _now()
        if resource is not None:
            meta = dict(resource.get("meta") or {})
            meta["versionId"] = str(version)
            meta["lastUpdated"] = format_instant(ts)
            resource = {**resource, "id": resource_id, "meta": meta}
        doc = {"_id": _history_id(resource_type, resource_id, version), "type": resource_type,
               "rid": resource_id, "vid": version, "ts": ts, "method": method, "deleted": resource is None,
               "json": dumps(resource) if resource is not None else None, **(index or {})}
        if content is not None:
            doc["content"] = self.binaries.put(content, resource.get("contentType") if resource else None)
        entry = {"type": resource_type, "rid": resource_id, "version": doc["_id"]}
        self.journal.insert_one(entry)  # gets its own _id: an entry left by a crash may name the same version
        if self.postings is not None and resource is not None:
            self.postings.add(posting_keys(resource_type, index or {}), resource_id)  # before the commit point
        try:
            self.history.insert_one(doc)
        except (bson.errors.InvalidDocument, pymongo.errors.DuplicateKeyError) as e:
            self.journal.delete_one({"_id": entry["_id"]})
            if content is not None:
                self.binaries.delete(doc["content"])
            if isinstance(e, pymongo.errors.DuplicateKeyError):
                self._project(resource_type, resource_id)
                raise VersionConflict(f"{resource_type}/{resource_id} version {version} was written concurrently")
            raise ResourceTooLarge(f"{resource_type} cannot be stored: {e}")  # DocumentTooLarge is one
        self._project(resource_type, resource_id, doc)
        self.journal.delete_one({"_id": entry["_id"]})
        written = _from_doc(doc)
        written._parsed = resource
        return written

    def _latest_after(self, resource_type: str, resource_id: str, version: int) -> dict | None:
        """The newest history version above `version`, probing the next `_id`s (versions have no gaps)."""
        latest = None
        while True:
            found = self.history.find_one({"_id": _history_id(resource_type, resource_id, version + 1)})
            if found is None:
                return latest
            latest, version = found, version + 1

    def _project(self, resource_type: str, resource_id: str, latest: dict | None = None) -> None:
        """Step 4: makes the current document the latest history version (see the module docstring)."""
        collection = self.db[resource_type]
        current = None if latest else collection.find_one({"_id": resource_id}, {"vid": 1})
        for _ in range(100):
            if latest is None:
                latest = self._latest_after(resource_type, resource_id, current["vid"] if current else 0)
                if latest is None:
                    return  # the current document holds the newest version
            projection = {k: v for k, v in latest.items() if k != "_id"}
            query = {"_id": resource_id}
            if not self.ferretdb:
                query["vid"] = {"$lt": latest["vid"]}
            try:
                collection.replace_one(query, projection, upsert=True)
            except pymongo.errors.DuplicateKeyError:
                pass  # a newer version is current already
            current, latest = collection.find_one({"_id": resource_id}, {"vid": 1}), None
        raise RuntimeError(f"{resource_type}/{resource_id}: current version does not settle")

    def recover(self) -> int:
        """Completes the writes a crash left unfinished (named in the journal); returns how many."""
        entries = list(self.journal.find({}))
        for entry in entries:
            self._project(entry["type"], entry["rid"])
            self.journal.delete_one({"_id": entry["_id"]})
        return len(entries)

    def history_page(self, resource_type: str, resource_id: str | None, since: datetime | None,
                     before: datetime, offset: int, count: int) -> tuple[list[StoredVersion], int]:
        """Versions written in [since, before], newest first, with the total number of them."""
        if resource_id is not None:
            return self._instance_history(resource_type, resource_id, since, before, offset, count)
        query: dict = {"type": resource_type, "ts": {"$lte": before}}
        if since is not None:
            query["ts"]["$gte"] = since
        total = self.history.count_documents(query)
        docs = self.history.find(query).sort([("ts", -1), ("_id", -1)]).skip(offset).limit(count) if count else []
        return [_from_doc(d) for d in docs], total

    def _instance_history(self, resource_type: str, resource_id: str, since: datetime | None,
                          before: datetime, offset: int, count: int) -> tuple[list[StoredVersion], int]:
        current = self.current(resource_type, resource_id)
        if current is None:
            return [], 0
        versions = range(current.version, 0, -1)
        if since is not None:
            docs = [doc for doc in map(self._history_doc, versions_ids(resource_type, resource_id, versions))
                    if doc and since <= doc["ts"] <= before]
            return [_from_doc(d) for d in docs[offset:offset + count]], len(docs)
        # Without _since only the page is read: versions have no gaps, and those written after `before`
        # (after the first page was served) are the newest ones.
        newest = current.version
        while newest > 0 and self._history_doc(_history_id(resource_type, resource_id, newest))["ts"] > before:
            newest -= 1
        page = range(newest - offset, max(newest - offset - count, 0), -1)
        docs = [d for d in map(self._history_doc, versions_ids(resource_type, resource_id, page)) if d]
        return [_from_doc(d) for d in docs], newest

    def _history_doc(self, history_id: str) -> dict | None:
        return self.history.find_one({"_id": history_id})

    def search_ids(self, resource_type: str, query: dict, sort: list[tuple[str, int]], limit: int,
                   with_total: bool) -> tuple[list[str], int | None]:
        """The ids of the first `limit` current resources matching `query` (built by the search package) in
        `sort` order, the id last so that the order is total; and the number of matches when asked."""
        collection = self.db[resource_type]
        candidates = candidate_ids(self.postings, resource_type, query) if self.postings else None
        if candidates is not None:
            fields = [f for f, _ in sort if f != "_id"]
            docs = sort_docs(matching_docs(collection, candidates, query, fields), sort)
            return [d["_id"] for d in docs[:limit]], len(docs)
        ids: list[str] = []
        if limit > 0:
            order = sort if sort and sort[-1][0] == "_id" else [*sort, ("_id", 1)]
            ids = [d["_id"] for d in collection.find(query, {"_id": 1}).sort(order).limit(limit)]
        total = None
        if with_total:
            total = len(ids) if len(ids) < limit else collection.count_documents(query)
        return ids, total

    def current_versions(self, resource_type: str, ids: list[str]) -> list[StoredVersion]:
        """The current versions of `ids`, in that order; deleted or unknown ones left out."""
        collection = self.db[resource_type]
        if self.ferretdb:  # one `_id` lookup each: a `$in` would scan the collection
            docs = [collection.find_one({"_id": i}) for i in ids]
        else:
            found = {d["_id"]: d for d in collection.find({"_id": {"$in": ids}})}
            docs = [found.get(i) for i in ids]
        return [_from_doc(d) for d in docs if d is not None and not d["deleted"]]

    def search_page(self, resource_type: str, query: dict, sort: list[tuple[str, int]], offset: int,
                    count: int, with_total: bool) -> tuple[list[StoredVersion], int | None]:
        """One page of the current versions `search_ids` finds, and the number of matches when asked."""
        ids, total = self.search_ids(resource_type, query, sort, offset + count, with_total)
        return self.current_versions(resource_type, ids[offset:]), total

    def content(self, version: StoredVersion) -> bytes:
        return self.binaries.get(version.content) if version.content else b""


def _history_id(resource_type: str, resource_id: str, version: int) -> str:
    return f"{resource_type}/{resource_id}/{version}"


def versions_ids(resource_type: str, resource_id: str, versions: range) -> list[str]:
    return [_history_id(resource_type, resource_id, v) for v in versions]
