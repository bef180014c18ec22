"""Definitive deletion: every version, index entry and stored content of a set of resources, beyond recovery.

The service decides which resources form a patient's record; `purge` erases, for each of them, its history
versions (voided ones and those a transaction reserved included), its current document, the Binary contents
of its versions (GridFS files and chunks), its posting-list membership (storage/postings.py), the kept searches
listing it (storage/search_pages.py) and the write-journal entries naming it.

Order. The history is what tells what else a resource left (its contents, its posting keys), so it is read
first and deleted late:
1. every version is read by `_id` (`Type/id/1`, `/2`... up to the current document's version and on until one
   is missing), with the current document;
2. the Binary contents they reference are deleted;
3. their posting lists are cleaned (`_clean_postings`), and the documents' unique ids they claimed given back
   (storage/document_ids.py), with the conditional creates' criteria they hold (storage/claims.py);
4. the versions are deleted by `_id`, each resource's highest first, so that a crash leaves versions 1..k,
   which step 1 finds again;
5. the current documents, after the history, so that a projection running meanwhile (start-up recovery, a
   transaction sweep) cannot bring one back from a version still there, then (on MongoDB) their entries in
   the locator (storage/locator.py), which finds them;
6. the kept searches listing a purged id, then the journal entries naming a target, both found by scanning
   their small collections, not through the history.
Every step deletes what it finds, and deleting what is gone is a no-op: `purge` run again on the same targets
after a crash at any point finishes the job, and on purged targets does nothing.

Lookups are by `_id` wherever FerretDB v1 needs it (history, current documents, posting lists); the
collections scanned are GridFS's (as deleting any Binary content does), `search_pages` and the journal.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from math import ceil

import pymongo
from bson import ObjectId

from .mongo import BINARY_BUCKET, SEARCH_PAGES
from .postings import RECORD, Postings, posting_keys
from .resources import ResourceStore
from .search_pages import CHUNK


@dataclass
class PurgeReport:
    resources: int = 0  # targets that had a version or a current document
    versions: int = 0  # history documents deleted
    contents: int = 0  # Binary contents (GridFS files) deleted
    posting_keys_deleted: int = 0  # lists keyed by a purged resource, deleted whole
    posting_keys_rewritten: int = 0  # other lists, rewritten without the purged ids
    search_pages: int = 0  # kept searches deleted


def purge(store: ResourceStore, targets: list[tuple[str, str]]) -> PurgeReport:
    """Erases every trace of the `(type, id)` targets (see the module docstring); idempotent.

    Callers must stop writes to (and referring to) the targets first: a write racing the purge can leave part
    of itself, which purging again erases. After a crash, pass the same targets again: derive them from
    something the purge does not erase, or keep them before the first run.
    """
    targets = list(dict.fromkeys(targets))
    found = [_read(store, *target) for target in targets]
    versions = [doc for history, _ in found for doc in history]
    docs = versions + [current for _, current in found if current]
    report = PurgeReport(resources=sum(1 for history, current in found if history or current))
    report.contents = _delete_contents(store, docs)
    if store.postings is not None:
        report.posting_keys_deleted, report.posting_keys_rewritten = _clean_postings(store.postings, targets, docs)
    store.document_ids.forget_documents((d["rid"], json.loads(d["json"])) for d in docs
                                        if d["type"] == "DocumentReference" and d.get("json"))
    store.create_claims.forget([f"{resource_type}/{resource_id}" for resource_type, resource_id in targets])
    report.versions = _delete_history(store, versions)
    _delete_current(store, found, targets)
    report.search_pages = _delete_search_pages(store, list(dict.fromkeys(i for _, i in targets)))
    _delete_journal(store, targets)
    return report


def _read(store: ResourceStore, resource_type: str, resource_id: str) -> tuple[list[dict], dict | None]:
    """(the history versions of a resource, oldest first; its current document). Versions have no gaps (voided
    ones stay; a purge cut short leaves 1..k), but a write racing an earlier purge can leave some above deleted
    ones: probing goes on up to the current document's version at least, then stops at the first missing."""
    key = store.key_of(resource_type, resource_id)
    current = store.db[resource_type].find_one(key) if key else None
    top = current["vid"] if current else 0
    history, version = [], 1
    while True:
        doc = store.history.find_one({"_id": f"{resource_type}/{resource_id}/{version}"})
        if doc is None and version > top:
            return history, current
        if doc is not None:
            history.append(doc)
        version += 1


def _delete_contents(store: ResourceStore, docs: list[dict]) -> int:
    """Deletes the GridFS files the versions reference (the file first, then its chunks, as GridFS does);
    returns how many files were still there."""
    files = list(dict.fromkeys(ObjectId(doc["content"]["file"]) for doc in docs if doc.get("content")))
    if not files:
        return 0
    deleted = store.db[f"{BINARY_BUCKET}.files"].delete_many({"_id": {"$in": files}}).deleted_count
    store.db[f"{BINARY_BUCKET}.chunks"].delete_many({"files_id": {"$in": files}})
    return deleted


def _delete_history(store: ResourceStore, versions: list[dict]) -> int:
    """Deletes the versions, each resource's highest first (see the module docstring)."""
    deleted = 0
    for doc in sorted(versions, key=lambda d: (d["type"], d["rid"], -d["vid"])):
        deleted += store.history.delete_one({"_id": doc["_id"]}).deleted_count
    return deleted


def _delete_current(store: ResourceStore, found: list[tuple[list[dict], dict | None]],
                    targets: list[tuple[str, str]]) -> None:
    """Deletes the current documents, then (on MongoDB) the targets' entries in the locator, which finds them
    (storage/locator.py)."""
    for (resource_type, resource_id), (_, current) in zip(targets, found):
        if current is not None:
            store.db[resource_type].delete_one(store.key_of(resource_type, resource_id, current.get(RECORD)))
    if store.locator is not None:
        store.locator.forget(targets)


def _delete_search_pages(store: ResourceStore, ids: list[str]) -> int:
    """Deletes the kept searches any of whose chunks lists one of `ids` (of whatever type: deleting a kept
    search only makes its next page requests fail); returns how many. Their other chunks go first, then the
    searches, then the chunks listing `ids`, which the scan finds again: a run again finishes any of it."""
    pages = store.db[SEARCH_PAGES]
    listing = [doc["_id"] for doc in pages.find({"ids": {"$in": ids}}, {"_id": 1})]
    tokens = list(dict.fromkeys(chunk.rpartition(":")[0] for chunk in listing))
    if not tokens:
        return 0
    others = [f"{search['_id']}:{n}" for search in pages.find({"_id": {"$in": tokens}}, {"size": 1})
              for n in range(ceil(search["size"] / CHUNK))]
    listed = set(listing)
    pages.delete_many({"_id": {"$in": [chunk for chunk in others if chunk not in listed]}})
    deleted = pages.delete_many({"_id": {"$in": tokens}}).deleted_count
    pages.delete_many({"_id": {"$in": listing}})
    return deleted


def _delete_journal(store: ResourceStore, targets: list[tuple[str, str]]) -> None:
    wanted = set(targets)
    entries = [entry["_id"] for entry in store.journal.find({"rid": {"$in": [i for _, i in wanted]}})
               if (entry["type"], entry["rid"]) in wanted]
    if entries:
        store.journal.delete_many({"_id": {"$in": entries}})


def _clean_postings(postings: Postings, targets: list[tuple[str, str]], docs: list[dict]) -> tuple[int, int]:
    """Takes the purged ids out of every list the versions belong to; returns (lists deleted, rewritten).

    A list keyed by a purged resource (`<Type>>Patient/<id>`, `<Type>>Binary/<id>`) that holds nothing else is
    deleted: its head, then its entries from the last, so that a crash leaves entries 1..k, which `_last` finds
    from 1. Deleting frees positions, which concurrent writers could take again with stale ids: it is safe
    because nothing writes to a purged resource's lists (`purge`'s callers stop those writes). Any other list
    (an identifier's, or one also holding other resources) is rewritten without freeing a position:
    `_rewrite`."""
    purged: dict[str, set[str]] = {}
    for resource_type, resource_id in targets:
        purged.setdefault(resource_type, set()).add(resource_id)
    keys = {key: doc["type"] for doc in docs for key in posting_keys(doc["type"], doc)}
    deleted = rewritten = 0
    for key, resource_type in keys.items():
        postings.forget(key)
        position, entry = _last(postings, key)
        if entry is None:
            continue  # deleted whole by an earlier run
        owner_type, _, owner_id = key.removeprefix(f"{resource_type}>").partition("/")
        owned = key.startswith(f"{resource_type}>") and owner_id in purged.get(owner_type, ())
        # (a deletion cut short may have left only emptied entries: the last one then has no `ids`)
        if owned and not entry.get("overflow") and purged[resource_type].issuperset(entry.get("ids", ())):
            postings.heads.delete_one({"_id": key})
            for n in range(position, 0, -1):
                postings.entries.delete_one({"_id": f"{n}:{key}"})
            deleted += 1
        elif _rewrite(postings, key, purged[resource_type], position, entry):
            rewritten += 1
    return deleted, rewritten


def _rewrite(postings: Postings, key: str, ids: set[str], position: int, entry: dict) -> bool:
    """Takes `ids` out of the list `key`, whose last entry is `entry` at `position`; returns whether it changed.

    As a writer adds (storage/postings.py), an entry without `ids` is inserted after the last one; of it and a
    concurrent writer's entry, the unique `_id` lets one in and the other builds on it, so no addition is lost
    and every later entry derives from one without `ids`. Then every older entry still holding one of `ids` is
    replaced by `{moved: true}`: all have a successor, so a walk never ends on one, and the position stays
    taken. The head's hint is left to writers (a walk goes on past it)."""
    changed = False
    while ids.intersection(entry.get("ids", ())):  # (an overflowed list's last entry holds none)
        new = {"_id": f"{position + 1}:{key}", "ids": [i for i in entry["ids"] if i not in ids]}
        try:
            postings.entries.insert_one(new)
        except pymongo.errors.DuplicateKeyError:
            position, entry = _last(postings, key, position + 1)
            continue
        position, entry, changed = position + 1, new, True
    for n in range(1, position):
        older = postings.entries.find_one({"_id": f"{n}:{key}"})
        if older is not None and ids.intersection(older.get("ids", ())):
            postings.entries.replace_one({"_id": older["_id"]}, {"moved": True})
            changed = True
    return changed


def _last(postings: Postings, key: str, start: int | None = None) -> tuple[int, dict | None]:
    """(position, entry) of the last entry of the list `key`, walking from `start` (default: the head's hint,
    else 1); entry None when there is none from there."""
    if start is None:
        head = postings.heads.find_one({"_id": key})
        start = head["last"] if head else 1
    position, entry = start - 1, None
    while (following := postings.entries.find_one({"_id": f"{position + 1}:{key}"})) is not None:
        position, entry = position + 1, following
    return position, entry
