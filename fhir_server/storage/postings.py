"""Posting lists: which resources hold a selective search value, readable by `_id` alone.

FerretDB v1 (SQLite) hands SQLite one filter only, a lone `{_id: <string>}`; every other query is a scan of
the whole collection in Go, whatever indexes exist. So that the common searches (a patient's documents, a
record found by its INS, a document by its identifier) do not scan a million documents there, the store keeps,
for a few selective values, the list of the resources of a type that hold them, in documents found by `_id`:
- `<Type>>Patient/<id>`: the resources of Type in that Patient's record (`x:record`) or referring to that
  Patient in any reference parameter (the Patient compartment: `patient=`, `subject=Patient/..`,
  `subject:Patient=..`...);
- `<Type>|<param>|<sha256 of system|value>`: those with that identifier (`t:identifier` tokens with a
  system), hashed so that no key names a person (a purged record leaves no identifier behind);
- `<Type>>Binary/<id>`: the documents whose attachment points at that Binary (`u:location`).
A search then reads the list and tests each listed resource by `_id` (storage/candidates.py). The lists are an
accelerator, never the answer: a listed resource that no longer matches is filtered out there, so an id is
added before the resource version that holds the value is written (a crash in between leaves a harmless extra
id, never a missing one) and removed only when a record is purged (storage/purge.py). A list longer than `MAX_IDS` is marked overflowed and no longer
used (the search scans instead). On MongoDB, whose indexes serve these queries, no lists are kept.

Lock-free and without transactions: a list is a chain of immutable entries `<n>:<key>` (n = 1, 2, 3...), each
holding the whole list; a writer inserts entry n + 1 as entry n plus its id. The `_id` is unique, so of two
writers exactly one wins position n + 1; the other reads it and tries n + 2: no addition is ever lost, which a
read-modify-write of one document (FerretDB's updates are not atomic) could not promise. `posting_heads`
keeps a hint of the last position; entries older than the one before the last are emptied (kept as
`{moved: true}`, so that a writer with a stale hint cannot take their position again).
"""
from __future__ import annotations

import hashlib
import re

import pymongo
from pymongo.database import Database

from .mongo import POSTING_HEADS, POSTINGS
MAX_IDS = 20_000
BUILT = "#built:2"  # a head no key can have (keys start with a resource type); 2: with the Binary lists
_PATIENT = re.compile(r"Patient/[A-Za-z0-9\-.]{1,64}")
_IDENTIFIER_FIELDS = ("t:identifier",)
_BINARY = re.compile(r"Binary/[A-Za-z0-9\-.]{1,64}")
_LOCATION = "u:location"
RECORD = "x:record"  # the record a resource belongs to (access/membership.py): listed with its references


def _identifier_token(value: object) -> bool:
    if not isinstance(value, str):
        return False
    system, bar, code = value.partition("|")
    return bool(bar and system and code)


def identifier_key(resource_type: str, field: str, token: str) -> str:
    return f"{resource_type}|{field[2:]}|{hashlib.sha256(token.encode('utf-8')).hexdigest()}"


def posting_keys(resource_type: str, index: dict) -> list[str]:
    """The lists a resource with these index fields (search/values.py) belongs to."""
    keys: list[str] = []
    for field, values in index.items():
        values = values if isinstance(values, list) else [values]
        if field.startswith("r:") or field == RECORD:
            keys += [f"{resource_type}>{v}" for v in values if isinstance(v, str) and _PATIENT.fullmatch(v)]
        elif field == _LOCATION:
            keys += [f"{resource_type}>{v}" for v in values if isinstance(v, str) and _BINARY.fullmatch(v)]
        elif field in _IDENTIFIER_FIELDS:
            keys += [identifier_key(resource_type, field, v) for v in values if _identifier_token(v)]
    return list(dict.fromkeys(keys))


def criterion_keys(resource_type: str, field: str, condition: object) -> list[str] | None:
    """The lists whose union holds every resource meeting `{field: condition}` (an equality or `$in`), or None
    when no list covers it."""
    if isinstance(condition, dict):
        if list(condition) != ["$in"] or not isinstance(condition["$in"], list) or not condition["$in"]:
            return None
        values = condition["$in"]
    else:
        values = [condition]
    if (field.startswith("r:") or field == RECORD) and all(isinstance(v, str) and _PATIENT.fullmatch(v)
                                                          for v in values):
        return [f"{resource_type}>{v}" for v in values]
    if field == _LOCATION and all(isinstance(v, str) and _BINARY.fullmatch(v) for v in values):
        return [f"{resource_type}>{v}" for v in values]
    if field in _IDENTIFIER_FIELDS and all(_identifier_token(v) for v in values):
        return [identifier_key(resource_type, field, v) for v in values]
    return None


class Postings:
    def __init__(self, db: Database) -> None:
        self.entries = db[POSTINGS]
        self.heads = db[POSTING_HEADS]

    def add(self, lists: dict[str, list[str]], fresh: bool = False) -> None:
        """Adds ids to lists (key -> ids), one new entry per list. `fresh`: the caller knows that none of the
        lists exists yet (loading an empty store), so they are written in one bulk insert."""
        if fresh:
            if lists:
                self.entries.insert_many([{"_id": f"1:{key}", "ids": list(dict.fromkeys(ids))}
                                          for key, ids in lists.items()], ordered=False)
            return
        for key, ids in lists.items():
            self._add(key, ids)

    def is_built(self) -> bool:
        """Whether the lists cover every stored resource (`mark_built` was called once they did)."""
        return self.heads.find_one({"_id": BUILT}) is not None

    def mark_built(self) -> None:
        try:
            self.heads.update_one({"_id": BUILT}, {"$set": {"last": 0}}, upsert=True)
        except pymongo.errors.DuplicateKeyError:
            pass  # another worker starting at the same time marked it first

    def members(self, key: str) -> list[str] | None:
        """The ids listed under `key` (empty when none), or None when the list overflowed."""
        _, entry = self._latest(key)
        if entry is None:
            return []
        return None if entry.get("overflow") else entry["ids"]

    def _add(self, key: str, resource_ids: list[str]) -> None:
        position, entry = self._latest(key)
        while True:
            ids = entry["ids"] if entry else []
            listed = set(ids)
            missing = [i for i in dict.fromkeys(resource_ids) if i not in listed]
            if (entry and entry.get("overflow")) or not missing:
                return
            new = {"_id": f"{position + 1}:{key}", "ids": [*ids, *missing]}
            if len(new["ids"]) > MAX_IDS:
                new = {"_id": new["_id"], "ids": [], "overflow": True}
            try:
                self.entries.insert_one(new)
                break
            except pymongo.errors.DuplicateKeyError:
                position, entry = self._latest(key, position + 1)
        position += 1
        try:
            self.heads.update_one({"_id": key}, {"$max": {"last": position}}, upsert=True)
        except pymongo.errors.DuplicateKeyError:  # two first writers both inserted the head
            self.heads.update_one({"_id": key}, {"$max": {"last": position}})
        if position > 2:  # emptied, not deleted: a position once taken must stay taken
            self.entries.replace_one({"_id": f"{position - 2}:{key}"}, {"moved": True})

    def _latest(self, key: str, start: int | None = None) -> tuple[int, dict | None]:
        """(position, entry) of the last entry, walking forward from `start` (default: the head's hint)."""
        if start is None:
            head = self.heads.find_one({"_id": key})
            start = head["last"] if head else 1
        position, entry = start - 1, None
        while True:
            following = self.entries.find_one({"_id": f"{position + 1}:{key}"})
            if following is None and (entry is None or "ids" in entry):
                return position, entry
            if following is not None:
                position, entry = position + 1, following
