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
- `<Type>>Binary/<id>`: the documents whose attachment points at that Binary (`u:location`);
- Patients by name prefix and birth date, documents by author: storage/lookup_keys.py.
A search then reads the list and tests each listed resource by `_id` (storage/candidates.py). The lists are an
accelerator, never the answer: a listed resource that no longer matches is filtered out there, so an id is
added before the resource version that holds the value is written (a crash in between leaves a harmless extra
id, never a missing one) and removed only when a record is purged (storage/purge.py). A list longer than `MAX_IDS` is marked overflowed and no longer
used (the search scans instead; lookup_keys.py's lists overflow sooner). On MongoDB, whose indexes serve these
queries, no lists are kept.

Lock-free and without transactions: a list is a chain of immutable entries `<n>:<key>` (n = 1, 2, 3...), each
holding the whole list; a writer inserts entry n + 1 as entry n plus its id. The `_id` is unique, so of two
writers exactly one wins position n + 1; the other reads it and tries n + 2: no addition is ever lost, which a
read-modify-write of one document (FerretDB's updates are not atomic) could not promise. `posting_heads`
keeps a hint of the last position (raised before the write that added is acknowledged, so a list without a
head lists nothing stored yet); entries older than the one before the last are emptied (kept as
`{moved: true}`, so that a writer with a stale hint cannot take their position again). One write's additions to
all its lists are one command (the new entries and the emptying, storage/mongo.write_each) and one head
update, whatever the number of lists; a writer
remembers the last entry it wrote or read of a list for `LAST_SECONDS` and then does not read it again: if
another writer has added meanwhile, the insert finds the position taken and the list is read again.
"""
from __future__ import annotations

import hashlib
import re

import pymongo
from pymongo.database import Database

from .lookup_keys import MAX_IDS as LOOKUP_MAX_IDS
from .lookup_keys import is_lookup_key, lookup_keys, pattern_keys, value_keys
from .mongo import POSTING_HEADS, POSTINGS, update_each, write_each
from .parallel import each
from .recent import Recent
MAX_IDS = 20_000
LAST_SECONDS = 10.0  # how long a writer trusts the last entry it wrote or read of a list without reading it again
_LISTS_KEPT = 10_000  # lists whose last entry a writer remembers (least recently used forgotten first)
# A head no key can have (keys start with a resource type); its number changes with each new kind of list, so
# that a database written before it has its lists built at start-up: 2, the Binary lists; 3, storage/lookup_keys.py
BUILT = "#built:3"
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
    return list(dict.fromkeys(keys + lookup_keys(resource_type, index)))


def criterion_keys(resource_type: str, field: str, condition: object) -> list[str] | None:
    """The lists whose union holds every resource meeting `{field: condition}` (an equality, an `$in`, whose
    every value must be covered, or a `$regex`), or None when no list covers it."""
    if isinstance(condition, dict) and list(condition) == ["$regex"]:
        return pattern_keys(resource_type, field, condition["$regex"])
    if isinstance(condition, dict):
        if list(condition) != ["$in"] or not isinstance(condition["$in"], list):
            return None
        values = condition["$in"]  # none: nothing matches, no list needed
    else:
        values = [condition]
    keys: list[str] = []
    for value in values:
        found = _value_keys(resource_type, field, value)
        if found is None:
            return None
        keys += found
    return keys


def _value_keys(resource_type: str, field: str, value: object) -> list[str] | None:
    if not isinstance(value, str):
        return None
    if (field.startswith("r:") or field == RECORD) and _PATIENT.fullmatch(value):
        return [f"{resource_type}>{value}"]
    if field == _LOCATION and _BINARY.fullmatch(value):
        return [f"{resource_type}>{value}"]
    if field in _IDENTIFIER_FIELDS and _identifier_token(value):
        return [identifier_key(resource_type, field, value)]
    return value_keys(resource_type, field, value)


class Postings:
    def __init__(self, db: Database) -> None:
        self.entries = db[POSTINGS]
        self.heads = db[POSTING_HEADS]
        self._last: Recent[tuple[int, dict]] = Recent(LAST_SECONDS, _LISTS_KEPT)  # key -> (position, entry)

    def add(self, lists: dict[str, list[str]], fresh: bool = False) -> None:
        """Adds ids to lists (key -> ids), one new entry per list, all in one insert. `fresh`: the caller knows
        that none of the lists exists yet (loading an empty store). A list whose last entry this writer
        remembers is not read; one another writer has moved on meanwhile is read and added to again."""
        if fresh:
            if lists:
                self.entries.insert_many([{"_id": f"1:{key}", "ids": list(dict.fromkeys(ids))}
                                          for key, ids in lists.items()], ordered=False)
                self.heads.insert_many([{"_id": key, "last": 1} for key in lists], ordered=False)
            return
        new_entries: list[tuple[str, int, dict]] = []
        lasts = {key: self._last.get(key) for key in lists}
        unknown = [key for key, last in lasts.items() if last is None]
        lasts.update(zip(unknown, each(self._hinted, unknown)))
        for key, ids in lists.items():
            position, entry = lasts[key]  # type: ignore[misc]
            new = _next_entry(key, position, entry, ids)
            if new is not None:
                new_entries.append((key, position + 1, new))
        # The new entries and the emptying of those they make old go in one command (an entry whose position
        # another writer took is still followed by two: emptying the one before the previous is harmless).
        emptied = [({"_id": f"{position - 2}:{key}"}, {"moved": True}, False)
                   for key, position, _ in new_entries if position > 2]
        taken = write_each(self.entries, [new for _, _, new in new_entries], emptied, same=_same_entry) \
            if new_entries else set()
        added = []
        for index, (key, position, new) in enumerate(new_entries):
            if index in taken:  # another writer took that position: read the list again and add once more
                self._add(key, lists[key])
            else:
                self._last.put(key, (position, new))
                added.append((key, position))
        self._raise_heads(added)

    def _raise_heads(self, added: list[tuple[str, int]]) -> None:
        """After entries were added: raises the lists' head hints, in one command."""
        if added:
            update_each(self.heads, [({"_id": key}, {"$max": {"last": position}}) for key, position in added],
                        upsert=True)

    def _hinted(self, key: str) -> tuple[int, dict | None]:
        """(position, entry) the head's hint names, taken as the last one (if entries follow, the insert finds
        its position taken); the last entry read on when the hinted one was emptied."""
        head = self.heads.find_one({"_id": key})
        if head is None:
            return 0, None
        entry = self.entries.find_one({"_id": f"{head['last']}:{key}"})
        return (head["last"], entry) if _live(entry) else self._latest(key, head["last"])

    def forget(self, key: str) -> None:
        """Forgets what this writer remembers of list `key` (it was rewritten or deleted)."""
        self._last.forget(key)

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
        return self.members_of([key])[key]

    def members_of(self, keys: list[str]) -> dict[str, list[str] | None]:
        """`members` of each key, the lists read together (storage/parallel.py)."""
        keys = list(dict.fromkeys(keys))
        return dict(zip(keys, each(self._members, keys)))

    def _members(self, key: str) -> list[str] | None:
        """A list without a head holds no id of an acknowledged write (a writer raises the head before its
        write goes on: `_raise_heads`), so it is read as empty; otherwise the hinted entry and the one after it
        are read together, and the list walked on only when the hint lags (`$max` is not atomic on FerretDB:
        a hint may stay behind an entry already acknowledged)."""
        head = self.heads.find_one({"_id": key})
        if head is None:
            return []
        last = head["last"]
        hinted, following = each(lambda n: self.entries.find_one({"_id": f"{n}:{key}"}), [last, last + 1])
        if following is not None or not _live(hinted):
            _, hinted = self._latest(key, last)
        if hinted is None:
            return []
        return None if hinted.get("overflow") else hinted["ids"]

    def _add(self, key: str, resource_ids: list[str]) -> None:
        """Adds ids to one list, reading it first, however many writers race."""
        position, entry = self._latest(key)
        while True:
            new = _next_entry(key, position, entry, resource_ids)
            if new is None:
                return
            try:
                self.entries.insert_one(new)
                break
            except pymongo.errors.DuplicateKeyError:
                position, entry = self._latest(key, position + 1)
        self._last.put(key, (position + 1, new))
        self._raise_heads([(key, position + 1)])
        if position + 1 > 2:
            update_each(self.entries, [({"_id": f"{position - 1}:{key}"}, {"moved": True})])

    def _latest(self, key: str, start: int | None = None) -> tuple[int, dict | None]:
        """(position, entry) of the last entry, walking forward from `start` (default: the head's hint)."""
        if start is None:
            head = self.heads.find_one({"_id": key})
            start = head["last"] if head else 1
        position, entry = start - 1, None
        while True:
            following = self.entries.find_one({"_id": f"{position + 1}:{key}"})
            if following is None and (entry is None or _live(entry)):
                return position, entry
            if following is not None:
                position, entry = position + 1, following


def _live(entry: dict | None) -> bool:
    """Whether an entry is one a list may end on: it holds ids, or marks the list overflowed (no ids: FerretDB
    drops an empty array set on insert), not one emptied since (`{moved: true}`)."""
    return entry is not None and ("ids" in entry or bool(entry.get("overflow")))


def _same_entry(stored: dict, entry: dict) -> bool:
    """Whether the stored entry is this one (or one just like it: the same list, whoever wrote it)."""
    return (stored.get("ids"), stored.get("overflow")) == (entry.get("ids"), entry.get("overflow"))


def _next_entry(key: str, position: int, entry: dict | None, resource_ids: list[str]) -> dict | None:
    """The entry after `entry` (list `key`'s at `position`) that adds the ids it lacks, or marks the list
    overflowed; None when it lacks none or overflowed already."""
    ids = entry.get("ids", []) if entry else []
    listed = set(ids)
    missing = [i for i in dict.fromkeys(resource_ids) if i not in listed]
    if (entry and entry.get("overflow")) or not missing:
        return None
    if len(ids) + len(missing) > (LOOKUP_MAX_IDS if is_lookup_key(key) else MAX_IDS):
        return {"_id": f"{position + 1}:{key}", "overflow": True}
    return {"_id": f"{position + 1}:{key}", "ids": [*ids, *missing]}
