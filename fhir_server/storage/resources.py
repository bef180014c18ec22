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

Every read and write of a single resource addresses documents by `_id` alone on FerretDB: it is the one
filter FerretDB v1 (SQLite) hands to SQLite instead of scanning the collection in Go. On MongoDB the current
documents of record data are also addressed by their record, their shard key (`key_of`, storage/locator.py). Versions are numbered 1, 2, 3...
without gaps (but for versions an aborted transaction voided: storage/transactions.py), so the latest one is
found by probing the `_id`s after the current one.

Write order, without multi-document transactions (FerretDB has none; `reserve` does 2 to 4)
1. The write is entered in `write_journal`.
2. On FerretDB, the resource is added to its posting lists (storage/postings.py).
3. Binary bytes, if any, go to GridFS. A crash after this leaves an unreferenced file, never a wrong resource.
4. The new version is inserted into `history`. This insert is the commit point: its `_id` is unique, so
   of two writers of the same version exactly one succeeds; the other gets a `VersionConflict`
   (answered 409, or 412 when the client sent If-Match).
5. The current document is made a copy of the latest history version of that resource (the projection).
   On MongoDB the copy is conditional on the current document holding an older version, which MongoDB
   applies atomically. FerretDB v1 has no atomic conditional update (it reads, filters, then writes), so
   there the copy is unconditional and a slow writer can put back an older version. Either way the writer
   then probes the history after the version it copied, and copies any newer one: the last writer to touch
   the current document finds no version after its own, so the current document ends at the latest. A first
   version's current document is inserted instead (no probe): one already there was projected by a writer
   that has seen this version, or a later one, and that writer settles it.
6. The journal entry is removed, off the request's path with others (storage/journal.py).
If the process dies between 1 and 6, `recover()` (run at start-up, for the entries older than a transaction
lease, since several processes or nodes share the journal, and again once a lease has passed) projects every
resource named in the journal, and a writer that collides with a version projects it before answering 409, so
the two collections always converge on the history. A journal entry whose history insert never happened is
simply removed. Transactions (several resources, all or nothing) reserve versions the same way and commit
them together: storage/transactions.py.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import bson
import pymongo
from pymongo.collection import Collection
from pymongo.database import Database

from ..formats.fhir_json import dumps, loads
from .binaries import BinaryContent
from .claims import Claims
from .document_ids import DocumentIds
from .candidates import candidate_ids, matching_docs, sort_docs
from .journal import FinishedEntries
from .locator import LOCATED, RECORD_DATA, UNKNOWN, Locator, where
from .matcher import Unsupported, meets
from .mongo import CREATE_CLAIMS, HISTORY, JOURNAL
from .parallel import each
from .postings import RECORD, Postings, posting_keys
from .readers import Reader, RecordsOf, checked, restricted, with_conditions
from .transactions import TransactionLog, Write

log = logging.getLogger(__name__)


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
    index: dict = field(default_factory=dict, repr=False, compare=False)  # its search fields (`r:subject`...)
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


def _seen(reader: Reader, version: StoredVersion | None) -> StoredVersion | None:
    return version if version is not None and reader.visible(version) else None


def format_instant(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_READ_WHOLE = 100  # candidates read whole by a search that also wants their page (`search_with_page`)


def _now() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)  # BSON dates keep milliseconds


def _from_doc(doc: dict) -> StoredVersion:
    return StoredVersion(type=doc["type"], id=doc["rid"], version=doc["vid"], last_updated=doc["ts"],
                         deleted=doc["deleted"], method=doc["method"], text=doc.get("json"),
                         content=doc.get("content"), index=_index_of(doc))


@dataclass
class Reserved:
    """A version inserted into the history: its document, and what the caller gets back."""
    doc: dict
    version: StoredVersion


class ResourceStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.history = db[HISTORY]
        self.journal = db[JOURNAL]
        self.binaries = BinaryContent(db)
        self.ferretdb = "ferretdbVersion" in db.client.admin.command("buildInfo")
        # FerretDB scans a collection for any filter but `_id`: posting lists stand in for indexes there.
        self.postings = Postings(db) if self.ferretdb else None
        self.transactions = TransactionLog(db)
        self.finished = FinishedEntries(self.journal)
        self._locator: Locator | None = None
        self.document_ids = DocumentIds(db)
        self.create_claims = Claims(db, CREATE_CLAIMS)  # conditional creates' criteria (service/resources.py)

    @property
    def locator(self) -> Locator | None:
        """Where record data is kept, on MongoDB (storage/locator.py); None on FerretDB."""
        if self.ferretdb:
            return None
        if self._locator is None:
            self._locator = Locator(self.db)
        return self._locator

    def key_of(self, resource_type: str, resource_id: str, record: object = UNKNOWN) -> dict | None:
        """The filter of a resource's current document: its `_id`, and on MongoDB the record of record data
        (their shard key: storage/locator.py), read from the locator unless given; None when it has none (the
        resource does not exist). An AuditEvent's, not in the locator, is its `_id` alone (every shard)."""
        if self.locator is None or resource_type not in RECORD_DATA:
            return {"_id": resource_id}
        if record is UNKNOWN and resource_type not in LOCATED:
            return {"_id": resource_id}
        if record is UNKNOWN:
            found = self.locator.records(resource_type, [resource_id])
            if resource_id not in found:
                return None
            record = found[resource_id]
        return where(resource_id, record)

    def current(self, resource_type: str, resource_id: str, *, reader: Reader) -> StoredVersion | None:
        """The latest version (possibly a delete tombstone), or None if the resource never existed or the
        reader may not see it (storage/readers.py)."""
        return _seen(checked(reader), self._current(resource_type, resource_id))

    def _current(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        query = self.key_of(resource_type, resource_id)
        doc = self.db[resource_type].find_one(query) if query else None
        return _from_doc(doc) if doc else None

    def taken(self, resource_type: str, resource_id: str) -> bool:
        """Whether a resource has ever been written with this id (its content is not read): an update of an
        id taken by what the caller may not see must not become a create."""
        query = self.key_of(resource_type, resource_id)
        return query is not None and self.db[resource_type].count_documents(query, limit=1) > 0

    def version(self, resource_type: str, resource_id: str, version: int, *,
                reader: Reader) -> StoredVersion | None:
        """One version, or None if it does not exist or the reader may not see it."""
        checked(reader)
        doc = self._history_doc(_history_id(resource_type, resource_id, version))
        return _seen(reader, _from_doc(doc) if doc else None)

    def write(self, resource_type: str, resource_id: str, resource: dict | None, previous: int,
              method: str, content: bytes | None = None, index: dict | None = None) -> StoredVersion:
        """Writes version `previous + 1` (resource None deletes); see the module docstring for the order.

        `index` holds the top-level search fields (see search/values.py) kept with the version.
        """
        write = Write(resource_type, resource_id, resource, previous, method, content, index)
        entry = {"type": resource_type, "rid": resource_id}
        self.journal.insert_one(entry)  # gets its own _id: an entry left by a crash may name the same version
        try:
            written = self.reserve(write)
        except BaseException:
            self.journal.delete_one({"_id": entry["_id"]})
            raise
        if written.doc["vid"] == 1:  # a first version: its current document is inserted unless a racing
            self.project_new([written.doc])  # writer has projected it, or a later version, already
        else:
            self.project(resource_type, resource_id, written.doc)
        self.finished.finished(entry["_id"])
        return written.version

    def reserve(self, write: Write, tx: str | None = None) -> "Reserved":
        """Steps 2 to 4 for one write: see `reserve_all`."""
        return self.reserve_all([write], tx)[0]

    def reserve_all(self, writes: list[Write], tx: str | None = None) -> list["Reserved"]:
        """Steps 2 to 4: posting lists, Binary bytes, then the next version of each write's resource inserted
        into the history (in one bulk insert), marked `tx` when a transaction writes them
        (storage/transactions.py). The next version is `previous + 1`, or the one after a voided version (an
        aborted transaction's). Raises VersionConflict or ResourceTooLarge; what was inserted before the
        error stays (a transaction voids it; a single write has inserted nothing)."""
        ts = _now()
        if self.postings is not None:  # before the commit point
            lists: dict[str, list[str]] = {}
            for write in writes:
                if write.resource is not None:
                    for key in posting_keys(write.type, write.index or {}):
                        lists.setdefault(key, []).append(write.id)
            self.postings.add(lists)
        prepared = []
        for write in writes:
            content_id = None
            if write.content is not None:
                content_type = write.resource.get("contentType") if write.resource else None
                content_id = self.binaries.put(write.content, content_type)
            prepared.append(self._version_doc(write, write.previous + 1, ts, content_id, tx))
        failed: dict[int, Exception] = {}
        try:
            self.history.insert_many([doc for _, doc in prepared], ordered=False)
        except pymongo.errors.BulkWriteError as e:
            failed = {error["index"]: e for error in e.details.get("writeErrors", [])}
        except (bson.errors.InvalidDocument, pymongo.errors.DocumentTooLarge) as e:
            failed = {index: e for index in range(len(prepared))}  # none was sent: find out one by one
        reserved = []
        for index, (write, (resource, doc)) in enumerate(zip(writes, prepared)):
            if index in failed:
                resource, doc = self._insert_next(write, doc, ts, tx)
            written = _from_doc(doc)
            written._parsed = resource
            reserved.append(Reserved(doc, written))
        return reserved

    def _version_doc(self, write: Write, version: int, ts: datetime, content_id: dict | None,
                     tx: str | None) -> tuple[dict | None, dict]:
        resource, doc = version_document(write.type, write.id, write.resource, version, ts, write.method,
                                         write.index)
        if content_id is not None:
            doc["content"] = content_id
        if tx is not None:
            doc["tx"] = tx
        return resource, doc

    def _insert_next(self, write: Write, doc: dict, ts: datetime, tx: str | None) -> tuple[dict | None, dict]:
        """Inserts `doc`, or the same write at the version after voided ones; raises on a real conflict."""
        content_id, version = doc.get("content"), doc["vid"]
        while True:
            resource, doc = self._version_doc(write, version, ts, content_id, tx)
            try:
                self.history.insert_one(doc)
                return resource, doc
            except (bson.errors.InvalidDocument, pymongo.errors.DuplicateKeyError) as e:
                if isinstance(e, pymongo.errors.DuplicateKeyError):
                    occupant = self.history.find_one({"_id": doc["_id"]}, {"void": 1})
                    if occupant is not None and occupant.get("void"):
                        version += 1
                        continue
                if content_id is not None:
                    self.binaries.delete(content_id)
                if isinstance(e, pymongo.errors.DuplicateKeyError):
                    self.project(write.type, write.id)
                    raise VersionConflict(f"{write.type}/{write.id} version {version} was written concurrently")
                raise ResourceTooLarge(f"{write.type} cannot be stored: {e}")  # DocumentTooLarge is one

    def _latest_after(self, resource_type: str, resource_id: str, version: int) -> dict | None:
        """The newest visible history version above `version`, probing the next `_id`s: versions have no
        gaps but voided ones, skipped; a version an undecided transaction reserved ends the probe."""
        latest = None
        while True:
            found = self.history.find_one({"_id": _history_id(resource_type, resource_id, version + 1)})
            if found is None:
                return latest
            version += 1
            if found.get("void"):
                continue
            if "tx" in found and self.transactions.outcome(found["tx"]) != "commit":
                return latest
            latest = found

    def project(self, resource_type: str, resource_id: str, latest: dict | None = None) -> None:
        """Step 4: makes the current document the latest history version (see the module docstring)."""
        collection = self.db[resource_type]
        current = None
        if latest is None:
            known = self.key_of(resource_type, resource_id)
            current = collection.find_one(known, {"vid": 1}) if known else None
            if known is None and self.locator is not None:  # a crash came before its entry: enter it now
                first = self._latest_after(resource_type, resource_id, 0)
                if first is not None:
                    self.locator.add([(resource_type, resource_id, first.get(RECORD))])
        for _ in range(100):
            if latest is None:
                latest = self._latest_after(resource_type, resource_id, current["vid"] if current else 0)
                if latest is None:
                    return  # the current document holds the newest version
            projection = {k: v for k, v in latest.items() if k not in ("_id", "tx")}
            query = self.key_of(resource_type, resource_id, latest.get(RECORD))
            if not self.ferretdb:
                query["vid"] = {"$lt": latest["vid"]}
            try:
                collection.replace_one(query, projection, upsert=True)
            except pymongo.errors.DuplicateKeyError:
                pass  # a newer version is current already
            # A newer version than the one just copied is found by the probe; an older one a slow writer
            # copies after this is undone by that writer's own probe, which finds this version.
            current, latest = {"vid": latest["vid"]}, None
        raise RuntimeError(f"{resource_type}/{resource_id}: current version does not settle")

    def project_new(self, docs: list[dict]) -> set[tuple[str, str]]:
        """Step 5 for resources whose first version `docs` holds (vid 1), in one bulk insert per type: no
        current document can exist before a first version, so none is overwritten; one already there was
        projected by someone else. Returns the (type, id) projected."""
        by_type: dict[str, list[dict]] = {}
        for doc in docs:
            if doc["vid"] == 1:
                projection = {k: v for k, v in doc.items() if k not in ("_id", "tx")}
                by_type.setdefault(doc["type"], []).append({**projection, "_id": doc["rid"]})
        if self.locator is not None:  # entered first: a crash before the current documents leaves them to recovery
            self.locator.add([(t, d["_id"], d.get(RECORD)) for t, currents in by_type.items() for d in currents])
        for resource_type, currents in by_type.items():
            try:
                self.db[resource_type].insert_many(currents, ordered=False)
            except pymongo.errors.BulkWriteError as e:
                if any(error.get("code") != 11000 for error in e.details.get("writeErrors", [])):
                    raise
        return {(resource_type, d["_id"]) for resource_type, currents in by_type.items() for d in currents}

    def build_postings(self, resource_types: list[str]) -> int:
        """On FerretDB, once per database: the posting lists of the resources stored before they were kept
        (a database from an older version); returns how many resources were listed."""
        if self.postings is None or self.postings.is_built():
            return 0
        lists: dict[str, list[str]] = {}
        listed = 0
        for resource_type in resource_types:
            for doc in self.db[resource_type].find({"deleted": False}):
                listed += 1
                for key in posting_keys(resource_type, doc):
                    lists.setdefault(key, []).append(doc["_id"])
        self.postings.add(lists)
        self.postings.mark_built()
        return listed

    def build_locator(self) -> int:
        """On MongoDB, once per database: enters in the locator the record data stored before it was kept
        (storage/locator.py); returns how many resources were entered."""
        if self.locator is None:
            return 0
        return self.locator.build(lambda resource_type: self.db[resource_type].find({}, {RECORD: 1}))

    def build_document_ids(self) -> int:
        """Once per database: the unique ids of the documents stored before they were claimed
        (storage/document_ids.py); returns how many were claimed."""
        return self.document_ids.build(self.db["DocumentReference"].find({"deleted": False}, {"json": 1, "ts": 1}))

    def reindex(self, resource_type: str, index_of: Callable[[dict, dict], dict]) -> int:
        """Recomputes the search fields of every stored version of `resource_type`, for a database written
        when indexing differed: `index_of(resource, fields it has)` gives a version's fields but for
        `_lastUpdated` (from its own meta). A current document, a copy of its latest version, is reindexed
        the same way (on FerretDB also added to its posting lists), then projected again, so that a write
        racing it still leaves the latest version current. Returns how many documents changed.
        A version a transaction under way reserved (`tx`) is left to its writer, which indexes it and then
        updates it (storage/transactions.py): on FerretDB, which reads, then writes a whole document, two
        updates of one document could lose one. Updates address documents by `_id` alone, the one filter
        FerretDB does not answer by scanning the collection."""
        changed, lists = 0, {}
        for doc in self.history.find({"type": resource_type}):
            if "tx" not in doc and self._reindexed(self.history, doc, index_of) is not None:
                changed += 1
        collection = self.db[resource_type]
        for current in collection.find({}):
            fields = self._reindexed(collection, current, index_of, current=True)
            if fields is None:
                continue
            changed += 1
            self.project(resource_type, current["_id"])
            if self.postings is not None:
                for key in posting_keys(resource_type, fields):
                    lists.setdefault(key, []).append(current["_id"])
        if self.postings is not None:
            self.postings.add(lists)
        return changed

    def _reindexed(self, collection: Collection, doc: dict, index_of: Callable[[dict, dict], dict],
                   current: bool = False) -> dict | None:
        """Gives `doc` the search fields of its resource instead of its own; those fields, or None when
        they were its own already (a tombstone is left as it is: it keeps the record and writer of what it
        deleted, and no search finds it). A
        current document is updated only while it holds the same version (on MongoDB: FerretDB has no
        atomic conditional update, the projection after it settles a race)."""
        old = _index_of(doc)
        if doc.get("json") is None:
            return None  # a tombstone keeps the record and writer of what it deleted
        fields = _with_last_updated(
            index_of(loads(doc["json"]), old), format_instant(doc["ts"]))
        if old == fields:
            return None
        update = {"$set": fields} if fields else {}
        if stale := [name for name in old if name not in fields]:
            update["$unset"] = dict.fromkeys(stale, "")
        query = {"_id": doc["_id"]}
        if current and not self.ferretdb:
            query = {**self.key_of(doc["type"], doc["_id"], doc.get(RECORD)), "vid": doc["vid"]}
        collection.update_one(query, update)
        if current and self.locator is not None and fields.get(RECORD) != doc.get(RECORD):
            self.locator.moved(doc["type"], doc["_id"], fields.get(RECORD))
        return fields

    def set_fields(self, resource_type: str, resource_id: str, fields: dict) -> None:
        """Adds stored fields to every version of a resource (a Binary joining its record: access/policy.py),
        history first and the current document last, each by `_id`; on FerretDB its posting lists first."""
        current = self.db[resource_type].find_one({"_id": resource_id})
        if current is None:
            return
        if self.postings is not None:
            self.postings.add({key: [resource_id] for key in posting_keys(resource_type, fields)})
        for history_id in versions_ids(resource_type, resource_id, range(1, current["vid"] + 1)):
            self.history.update_one({"_id": history_id}, {"$set": fields})
        self.db[resource_type].update_one({"_id": resource_id}, {"$set": fields})

    def recover(self, older_than: timedelta = timedelta(0)) -> int:
        """Completes the writes a crash left unfinished (named in the journal) whose entry is older than
        `older_than`; returns how many. Several processes share the journal (workers, nodes): an entry younger
        than the longest write may be a live writer's, which removing would leave unprojected should that
        writer then crash, so a process starting beside others passes the longest write here and runs again
        once that has passed (`recover_later`)."""
        query = {}
        if older_than > timedelta(0):  # an entry's `_id` is an ObjectId: it holds when it was made
            query = {"_id": {"$lt": bson.ObjectId.from_datetime(datetime.now(timezone.utc) - older_than)}}
        entries = list(self.journal.find(query))
        for entry in entries:
            self.project(entry["type"], entry["rid"])
            self.journal.delete_one({"_id": entry["_id"]})
        return len(entries)

    def recover_later(self, older_than: timedelta) -> threading.Timer:
        """`recover(older_than)` once `older_than` has passed, in a thread (the entries a start-up left); an
        error (the database not answering then) leaves them to the next start."""
        def recover() -> None:
            try:
                self.recover(older_than)
            except pymongo.errors.PyMongoError as error:
                log.warning("journal entries left for the next start: %s", error)
        timer = threading.Timer(older_than.total_seconds(), recover)
        timer.daemon = True
        timer.start()
        return timer

    def history_page(self, resource_type: str, resource_id: str | None, since: datetime | None,
                     before: datetime, offset: int, count: int, excluded: list[str] | None = None, *,
                     reader: Reader) -> tuple[list[StoredVersion], int]:
        """Versions written in [since, before], newest first, with the total number of them; at type level,
        none of the `excluded` ids. Those the reader may not see are left out of the page."""
        checked(reader)
        versions, total = self._history_page(resource_type, resource_id, since, before, offset, count, excluded)
        return [v for v in versions if reader.visible(v)], total

    def _history_page(self, resource_type: str, resource_id: str | None, since: datetime | None,
                      before: datetime, offset: int, count: int,
                      excluded: list[str] | None) -> tuple[list[StoredVersion], int]:
        if resource_id is not None:
            return self._instance_history(resource_type, resource_id, since, before, offset, count)
        # Versions still marked by a transaction (undecided, or committed and being unmarked) or voided by
        # one are left out.
        query: dict = {"type": resource_type, "ts": {"$lte": before}, "tx": {"$exists": False},
                       "void": {"$exists": False}}
        if since is not None:
            query["ts"]["$gte"] = since
        if excluded:
            query["rid"] = {"$nin": excluded}
        total = self.history.count_documents(query)
        docs = self.history.find(query).sort([("ts", -1), ("_id", -1)]).skip(offset).limit(count) if count else []
        return [_from_doc(d) for d in docs], total

    def _instance_history(self, resource_type: str, resource_id: str, since: datetime | None,
                          before: datetime, offset: int, count: int) -> tuple[list[StoredVersion], int]:
        current = self._current(resource_type, resource_id)
        if current is None:
            return [], 0
        ids = versions_ids(resource_type, resource_id, range(current.version, 0, -1))
        docs = [doc for doc in map(self._history_doc, ids)
                if doc and doc["ts"] <= before and (since is None or since <= doc["ts"])]
        return [_from_doc(d) for d in docs[offset:offset + count]], len(docs)

    def _history_doc(self, history_id: str) -> dict | None:
        """A history version readers may see (not one an undecided transaction reserved, nor a voided one)."""
        def read() -> dict | None:
            return self.history.find_one({"_id": history_id})
        doc = read()
        return self.transactions.visible(doc, read) if doc else None

    def search_ids(self, resource_type: str, query: dict, sort: list[tuple[str, int]], limit: int,
                   with_total: bool, *, reader: Reader) -> tuple[list[str], int | None]:
        """The ids of the first `limit` current resources matching `query` (built by the search package) and
        the reader's conditions, in `sort` order, the id last so that the order is total; and the number of
        matches when asked."""
        plan = self._planned(reader, resource_type, query)
        matches = self._few_matches(resource_type, plan, sort)
        if matches is not None:
            return [d["_id"] for d in matches[:limit]], len(matches)
        docs, total = self._search_docs(resource_type, plan.query, plan.candidates, sort, limit, with_total)
        return [d["_id"] for d in docs], total

    def _planned(self, reader: Reader, resource_type: str, query: dict) -> "_Plan":
        """The query with the reader's conditions ANDed in, and its candidates (None: it scans). When the search's
        own criteria give candidates, the reader may judge the records they are in rather than every record:
        a few candidates are then read whole, with the search's own criteria (the database decides), and the
        reader's conditions tested on those in hand (storage/matcher.py) rather than by reading them again."""
        checked(reader)
        if self.postings is not None:
            candidates = candidate_ids(self.postings, resource_type, query)
            if candidates is not None and len(candidates) <= _READ_WHOLE:
                in_hand: list[list[dict]] = []

                def records() -> list[str]:
                    if not in_hand:
                        in_hand.append(matching_docs(self.db[resource_type], candidates, query, None))
                    return _records_in(resource_type, in_hand[0])
                conditions = reader.search_conditions(resource_type, query, records)
                return _Plan(with_conditions(query, conditions), candidates, conditions,
                             in_hand[0] if in_hand else None)
            if candidates is not None:
                records = (lambda: candidates) if resource_type == "Patient" else \
                    (lambda: self._records_of(resource_type, candidates))
                return _Plan(restricted(reader, resource_type, query, records), candidates)
        if self.postings is not None:
            query = restricted(reader, resource_type, query)
            return _Plan(query, candidate_ids(self.postings, resource_type, query))
        return _Plan(restricted(reader, resource_type, query, self._records_of_few(resource_type, query)), None)

    def _records_of_few(self, resource_type: str, query: dict) -> RecordsOf:
        """On MongoDB (no posting lists), the records of a search's matches when its own criteria match at most
        `_READ_WHOLE` resources, found by its indexes; None beyond. The rules then judge those records, read by
        `_id`, rather than list every record closed to the reader (a scan of `records` that grows with each
        closed record and reaches every shard: docs/scaling.md)."""
        def records() -> list[str] | None:
            docs = list(self.db[resource_type].find(query, {RECORD: 1}).limit(_READ_WHOLE + 1))
            return _records_in(resource_type, docs) if len(docs) <= _READ_WHOLE else None
        return records

    def _records_of(self, resource_type: str, ids: list[str]) -> list[str]:
        """The records (Patient ids) these resources are in (membership is decided on write: `x:record`)."""
        if self.locator is not None and resource_type in LOCATED:
            return _records_in(resource_type, [{RECORD: record}
                                               for record in self.locator.records(resource_type, ids).values()])
        collection = self.db[resource_type]
        return _records_in(resource_type, [doc for doc in each(
            lambda resource_id: collection.find_one({"_id": resource_id}, {RECORD: 1}), ids) if doc])

    def _search_docs(self, resource_type: str, query: dict, candidates: list[str] | None,
                     sort: list[tuple[str, int]], limit: int, with_total: bool) -> tuple[list[dict], int | None]:
        """The first `limit` matches (each its `_id` and record: where its current document is) and their
        number when asked."""
        collection = self.db[resource_type]
        if candidates is not None:
            fields = [f for f, _ in sort if f != "_id"]
            docs = sort_docs(matching_docs(collection, candidates, query, fields), sort)
            return docs[:limit], len(docs)
        found: list[dict] = []
        if limit > 0:
            order = sort if sort and sort[-1][0] == "_id" else [*sort, ("_id", 1)]
            found = list(collection.find(query, {"_id": 1, RECORD: 1}).sort(order).limit(limit))
        total = None
        if with_total:
            total = len(found) if len(found) < limit else collection.count_documents(query)
        return found, total

    def search_with_page(self, resource_type: str, query: dict, sort: list[tuple[str, int]], limit: int,
                         with_total: bool, page: slice, *,
                         reader: Reader) -> tuple[list[str], int | None, list[StoredVersion]]:
        """`search_ids`, and the current versions of the ids in `page` (as `current_versions` gives them).
        Matches found among a few candidates (posting lists) are read whole once, not again for the page."""
        plan = self._planned(reader, resource_type, query)
        matches = self._few_matches(resource_type, plan, sort)
        if matches is None:
            found, total = self._search_docs(resource_type, plan.query, plan.candidates, sort, limit, with_total)
            return [d["_id"] for d in found], total, [
                v for v in self._current_versions(resource_type, *_located(found[page])) if reader.visible(v)]
        docs = matches[:limit]  # the total counts them all, as `_search_docs` does
        versions = [_from_doc(doc) for doc in docs[page] if not doc["deleted"]]
        return [d["_id"] for d in docs], len(matches), [v for v in versions if reader.visible(v)]

    def _few_matches(self, resource_type: str, plan: "_Plan", sort: list[tuple[str, int]]) -> list[dict] | None:
        """The matches, whole and in order, when there are few candidates to test (then reading them whole
        costs no more than testing them); None otherwise."""
        if plan.in_hand is not None:
            try:
                docs = [d for d in plan.in_hand if all(meets(d, c) for c in plan.conditions)]
            except Unsupported:  # a condition the matcher does not decide: the database tests them again
                docs = matching_docs(self.db[resource_type], [d["_id"] for d in plan.in_hand], plan.query, None)
            return sort_docs(docs, sort)
        if plan.candidates is None or len(plan.candidates) > _READ_WHOLE:
            return None
        return sort_docs(matching_docs(self.db[resource_type], plan.candidates, plan.query, None), sort)

    def current_versions(self, resource_type: str, ids: list[str], *, reader: Reader) -> list[StoredVersion]:
        """The current versions of `ids`, in that order; deleted or unknown ones, and those the reader may not
        see, left out."""
        checked(reader)
        return [v for v in self._current_versions(resource_type, ids) if reader.visible(v)]

    def _current_versions(self, resource_type: str, ids: list[str],
                          records: dict[str, str | None] | None = None) -> list[StoredVersion]:
        """`records`: id -> record, where the search found them (else read from the locator)."""
        collection = self.db[resource_type]
        if self.ferretdb:  # one `_id` lookup each: a `$in` would scan the collection
            docs = each(lambda resource_id: collection.find_one({"_id": resource_id}), ids)
        else:
            query: dict = {"_id": {"$in": ids}}
            if records is None and self.locator is not None and resource_type in LOCATED:
                records = self.locator.records(resource_type, ids)
            if records is not None and self.locator is not None and resource_type in RECORD_DATA:
                query = {"_id": {"$in": [i for i in ids if i in records]},  # on their records' shards
                         RECORD: {"$in": list(dict.fromkeys(records.values()))}}
            found = {d["_id"]: d for d in collection.find(query)} if query["_id"]["$in"] else {}
            docs = [found.get(i) for i in ids]
        return [_from_doc(d) for d in docs if d is not None and not d["deleted"]]

    def search_page(self, resource_type: str, query: dict, sort: list[tuple[str, int]], offset: int,
                    count: int, with_total: bool, *, reader: Reader) -> tuple[list[StoredVersion], int | None]:
        """One page of the current versions `search_ids` finds (under the reader's conditions), and the number
        of matches when asked."""
        plan = self._planned(reader, resource_type, query)
        matches = self._few_matches(resource_type, plan, sort)
        if matches is not None:
            page = [_from_doc(doc) for doc in matches[offset:offset + count] if not doc["deleted"]]
            return page, len(matches) if with_total else None
        found, total = self._search_docs(resource_type, plan.query, plan.candidates, sort, offset + count,
                                         with_total)
        return self._current_versions(resource_type, *_located(found[offset:])), total

    def content(self, version: StoredVersion) -> bytes:
        return self.binaries.get(version.content) if version.content else b""


def version_document(resource_type: str, resource_id: str, resource: dict | None, version: int, ts: datetime,
                     method: str, index: dict | None) -> tuple[dict | None, dict]:
    """(the resource with its id and meta, the history document of that version); see the module docstring."""
    if resource is not None:
        meta = dict(resource.get("meta") or {})
        meta["versionId"] = str(version)
        meta["lastUpdated"] = format_instant(ts)
        resource = {**resource, "id": resource_id, "meta": meta}
        index = _with_last_updated(index or {}, meta["lastUpdated"])  # known only now
    doc = {"_id": _history_id(resource_type, resource_id, version), "type": resource_type,
           "rid": resource_id, "vid": version, "ts": ts, "method": method, "deleted": resource is None,
           "json": dumps(resource) if resource is not None else None, **(index or {})}
    return resource, doc


@dataclass
class _Plan:
    """How a search runs: its criteria with the reader's conditions (`query`), the ids its matches are among
    (`candidates`; None: the query scans) and, when a few candidates were read whole with the search's own
    criteria, those (`in_hand`), still to be held to the reader's `conditions`."""
    query: dict
    candidates: list[str] | None
    conditions: list[dict] = field(default_factory=list)
    in_hand: list[dict] | None = None


def _records_in(resource_type: str, docs: list[dict]) -> list[str]:
    """The records (Patient ids) these stored documents are in: a Patient is its own record."""
    if resource_type == "Patient":
        return [doc["_id"] for doc in docs]
    return [record.partition("/")[2] for doc in docs
            if isinstance(record := doc.get(RECORD), str) and record.startswith("Patient/")]


def _located(docs: list[dict]) -> tuple[list[str], dict[str, str | None]]:
    """(the ids of matches a search found, id -> their record)."""
    return [d["_id"] for d in docs], {d["_id"]: d.get(RECORD) for d in docs}


def _with_last_updated(index: dict, last_updated: str) -> dict:
    """The `_lastUpdated` search fields added (search/values.py's date representation)."""
    return {**index, "dl:_lastUpdated": last_updated, "dh:_lastUpdated": last_updated}


def _index_of(doc: dict) -> dict:
    """A stored document's search fields (`r:subject`...)."""
    return {name: value for name, value in doc.items() if ":" in name}


def _history_id(resource_type: str, resource_id: str, version: int) -> str:
    return f"{resource_type}/{resource_id}/{version}"


def versions_ids(resource_type: str, resource_id: str, versions: range) -> list[str]:
    return [_history_id(resource_type, resource_id, v) for v in versions]
