"""On MongoDB, the record each resource of record data is kept in, found by `Type/id` (docs/scaling.md).

The current versions of record data (`RECORD_DATA`) are sharded on their record (`x:record`, then `_id`), so
that a patient's documents live on one shard and a search by patient reaches that shard alone. A read by id
does not know the record: it reads it here first (`resource_records`, `_id` = `Type/id`, sharded on `_id`),
then the resource where it is: two targeted round trips instead of one to every shard.

An entry never changes: a resource stays in the record its first version was written in (access/policy.py
refuses a move; a deletion keeps the record). It is inserted when the first version is projected, after
the history insert that decides which writer created the resource (storage/resources.py), so that it always
names the record of the version that won; a crash before it leaves a journal entry whose recovery projects
the resource and inserts it then. A resource with no entry does not exist (yet). A record's purge deletes its
entries last (storage/purge.py). FerretDB (one SQLite file, never sharded) has no entries: there, and for the
other types, the `_id` alone finds a resource.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import pymongo
from pymongo.database import Database

from .mongo import DUPLICATE_KEY, RESOURCE_RECORDS
from .postings import RECORD

# the types whose current versions are sharded on their record (access/membership.py: RECORD_ELEMENTS)
RECORD_DATA = frozenset({"DocumentReference", "List", "Consent", "AuditEvent", "RelatedPerson"})
# those entered here: not AuditEvents, one per request, written once and read by search (a patient's activity),
# by id rarely (then on every shard)
LOCATED = RECORD_DATA - {"AuditEvent"}
UNKNOWN = object()  # `where`'s record not given: read it here
BUILT = "~built"  # the entry saying every resource stored before the locator was kept is entered (`build`)


class Locator:
    def __init__(self, db: Database) -> None:
        self.collection = db[RESOURCE_RECORDS]

    def records(self, resource_type: str, ids: list[str]) -> dict[str, str | None]:
        """id -> the record (`Patient/<id>`, or None: in no record) of those of `ids` that exist."""
        if not ids:
            return {}
        keys = [f"{resource_type}/{resource_id}" for resource_id in ids]
        found = self.collection.find({"_id": {"$in": keys}})
        return {entry["_id"].partition("/")[2]: entry.get("record") for entry in found}

    def add(self, located: list[tuple[str, str, str | None]]) -> None:
        """Enters (type, id, record) of resources whose first version is being projected; one entered already
        (by a writer or recovery projecting the same version) stays."""
        entries = [{"_id": f"{resource_type}/{resource_id}", "record": record}
                   for resource_type, resource_id, record in located if resource_type in LOCATED]
        if not entries:
            return
        try:
            self.collection.insert_many(entries, ordered=False)
        except pymongo.errors.BulkWriteError as e:
            if any(error.get("code") != DUPLICATE_KEY for error in e.details.get("writeErrors", [])):
                raise

    def build(self, current: Callable[[str], Iterable[dict]]) -> int:
        """Once per database: enters the resources stored before the locator was kept (a database written by
        an older version), read by `current(type)` (their current documents, with their record); returns how
        many. Resources written meanwhile are entered by their writers."""
        if self.collection.find_one({"_id": BUILT}) is not None:
            return 0
        entered, batch = 0, []
        for resource_type in sorted(LOCATED):
            for doc in current(resource_type):
                batch.append((resource_type, doc["_id"], doc.get(RECORD)))
                if len(batch) == 1000:
                    self.add(batch)
                    entered, batch = entered + len(batch), []
        self.add(batch)
        entered += len(batch)
        try:
            self.collection.update_one({"_id": BUILT}, {"$set": {"record": None}}, upsert=True)
        except pymongo.errors.DuplicateKeyError:
            pass  # another worker starting at the same time marked it first
        return entered

    def moved(self, resource_type: str, resource_id: str, record: str | None) -> None:
        """Enters a resource's record decided again (`reindex` placing a resource stored before records were
        kept): the one change an entry may see."""
        if resource_type not in LOCATED:
            return
        self.collection.replace_one({"_id": f"{resource_type}/{resource_id}"}, {"record": record}, upsert=True)

    def forget(self, targets: list[tuple[str, str]]) -> None:
        """Deletes the entries of purged resources."""
        keys = [f"{resource_type}/{resource_id}" for resource_type, resource_id in targets
                if resource_type in LOCATED]
        if keys:
            self.collection.delete_many({"_id": {"$in": keys}})


def where(resource_id: str, record: str | None) -> dict:
    """The filter of a current document of record data on MongoDB: its shard key, record first."""
    return {"_id": resource_id, RECORD: record}
