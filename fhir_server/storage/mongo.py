"""Connecting to the database and creating its indexes."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database

HISTORY = "history"
JOURNAL = "write_journal"
BINARY_BUCKET = "binary"
SEARCH_PAGES = "search_pages"
POSTINGS = "postings"
POSTING_HEADS = "posting_heads"
TRANSACTIONS = "transactions"
OAUTH_CLIENTS = "oauth_clients"
OAUTH_KEYS = "auth_keys"
OAUTH_ASSERTIONS = "oauth_assertions"
OAUTH_REVOKED = "oauth_revoked"
PATIENT_ACCOUNTS = "patient_accounts"
OAUTH_CODES = "oauth_codes"
OAUTH_PENDING = "oauth_pending"
LETTERS = "letters"
RECORDS = "records"
RECORD_OPPOSITIONS = "record_oppositions"
NOTIFICATIONS = "notifications"
NOTIFICATION_SETTINGS = "notification_settings"
PORTAL_SESSIONS = "portal_sessions"
AUDIT_CHAIN = "audit_chain"
RESOURCE_RECORDS = "resource_records"
DOCUMENT_IDS = "document_ids"
CREATE_CLAIMS = "create_claims"
DUPLICATE_KEY = 11000
# Statements per update command: FerretDB v1.24 (SQLite) stops answering, every client, once one update command
# changes 100 existing documents or more (tests/storage/test_ferretdb.py)
STATEMENTS = 50


# (collection, field): the support collections of the transactions, search pages, posting lists and the
# authorization server.
SUPPORT_INDEXES = [
    (TRANSACTIONS, "expires"), (SEARCH_PAGES, "created"), (POSTINGS, "overflow"), (POSTING_HEADS, "last"),
    (OAUTH_CLIENTS, "status"), (OAUTH_ASSERTIONS, "expires"), (OAUTH_REVOKED, "expires"), (OAUTH_KEYS, "jwk.kid"),
    (OAUTH_CODES, "expires"), (OAUTH_PENDING, "expires"), (LETTERS, "created"), (PATIENT_ACCOUNTS, "locked_until"),
    (PATIENT_ACCOUNTS, "account"),  # a purge deletes the failed attempts of the account (storage/auth.py)
    (RECORDS, "state"), (RECORDS, "blocked"), (RECORDS, "unreadable"), (RECORDS, "no_emergency"),  # `denied`
    (RECORD_OPPOSITIONS, "at"), (NOTIFICATIONS, "next_try"), (PORTAL_SESSIONS, "expires"),
    (AUDIT_CHAIN, "key"),
    (CREATE_CLAIMS, "holder"),  # a purge gives back the claims its resources held (storage/claims.py)
]


@dataclass(frozen=True)
class Concerns:
    """The read and write concerns of every command (docs/scaling.md, "Replica set"): each setting given here
    (MONGODB_WRITE_CONCERN...) wins over the URI's option, which wins over the default. An empty setting
    leaves it to the URI or the default."""
    write: str = ""  # "majority" (default), a number of members, or a tag set's name
    write_timeout_ms: int = 0  # default 10000: a write not acknowledged so is an error (503), never a silent 1
    read: str = ""  # "majority" (default with a majority write concern, else "local") or "local"
    read_preference: str = ""  # "primary" (default and only): a lagging secondary would serve stale versions

    def options(self, uri: str) -> dict:
        """The MongoClient keyword arguments."""
        given = {name.lower(): values[-1] for name, values in parse_qs(urlsplit(uri).query).items()}
        write = self.write or given.get("w") or "majority"
        preference = self.read_preference or given.get("readpreference") or "primary"
        if preference != "primary":
            raise ValueError(f"read preference {preference!r}: only 'primary' (MONGODB_READ_PREFERENCE): a "
                             "secondary may not yet hold a client's own writes")
        return {"w": int(write) if write.isdigit() else write,
                "wTimeoutMS": self.write_timeout_ms or int(given.get("wtimeoutms") or 10_000),
                # majority reads see a write once a majority holds it: with less, a writer's own write just
                # acknowledged could be unseen by its next read (an If-Match refused)
                "readConcernLevel": self.read or given.get("readconcernlevel") or (
                    "majority" if write == "majority" else "local"),
                "readPreference": preference}


def connect(uri: str, database_name: str, concerns: Concerns | None = None) -> Database:
    client = pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000, appname="fhir-server",
                                 **(concerns or Concerns()).options(uri))
    return client[database_name]


def ensure_indexes(db: Database, resource_types: list[str],
                   search_indexes: dict[str, list[list[tuple[str, int]]]] | None = None) -> None:
    """Indexes the store relies on, and those of the common searches; creating them again is a no-op."""
    history = db[HISTORY]
    # The _id "Type/id/version" is unique, which is what serialises concurrent writers of one resource.
    history.create_index([("type", 1), ("rid", 1), ("vid", -1)], name="instance_history")
    history.create_index([("type", 1), ("ts", -1)], name="type_history")
    db[JOURNAL].create_index([("type", 1)], name="journal_type")  # creates the collection up front
    # GridFS's own indexes, made here so that every collection exists from the start (see ferretdb.py).
    db[f"{BINARY_BUCKET}.files"].create_index([("filename", 1), ("uploadDate", 1)])
    db[f"{BINARY_BUCKET}.chunks"].create_index([("files_id", 1), ("n", 1)], unique=True)
    # The other collections are created up front too, each with the index its clean-ups or scans use, so
    # that their `_id` lookups are indexed on FerretDB from the start (ferretdb.py).
    for collection, field in SUPPORT_INDEXES:
        db[collection].create_index([(field, 1)], name=f"{collection}_{field}")
    for resource_type in resource_types:
        db[resource_type].create_index([("ts", -1)], name="last_updated")
    for resource_type, indexes in (search_indexes or {}).items():
        for keys in indexes:
            db[resource_type].create_index(keys)


def update_each(collection: Collection, updates: list[tuple[dict, dict]], upsert: bool = False) -> None:
    """Runs the (filter, update) statements in unordered `update` commands (`write_each`)."""
    write_each(collection, [], [(query, update, upsert) for query, update in updates])


def write_each(collection: Collection, docs: list[dict], updates: list[tuple[dict, dict, bool]],
               same: Callable[[dict, dict], bool] | None = None) -> set[int]:
    """Inserts `docs` (each with its own `_id`) and runs `updates` ((filter, update, upsert): idempotent ones,
    such as `$max`, `$set` or a replacement) together, in unordered `update` commands of at most `STATEMENTS`
    statements; returns the indexes of the docs not stored as given: another writer holds their `_id` (theirs
    stays), or the command stopped at an error before them (the caller tries them again).

    A doc is inserted by an upsert that sets its fields only when its `_id` is free, so that inserts and
    updates share a command; the reply names those inserted (`upserted`, by `_id`: FerretDB numbers them
    wrongly). When a statement fails on a duplicate key (two upserts racing), FerretDB's reply names neither
    that statement (its index is wrong) nor what was inserted: every update is then run again alone, and every
    doc read back, ours when `same(stored, doc)`. Any other failure raises. The commands are sent as is:
    pymongo's bulk_write cannot read FerretDB's reply when a statement fails (it lacks `nModified`)."""
    statements = [{"q": {"_id": doc["_id"]}, "u": {"$setOnInsert": {k: v for k, v in doc.items() if k != "_id"}},
                   "upsert": True} for doc in docs]
    statements += [{"q": query, "u": update, "upsert": upsert} for query, update, upsert in updates]
    inserted, raced = set(), False
    for start in range(0, len(statements), STATEMENTS):
        reply = collection.database.command({"update": collection.name, "ordered": False,
                                             "updates": statements[start:start + STATEMENTS],
                                             **_write_concern(collection)})
        errors = reply.get("writeErrors", [])
        if any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise pymongo.errors.OperationFailure(f"update of {collection.name} failed: {errors}", details=reply)
        raced = raced or bool(errors)
        inserted |= {upserted["_id"] for upserted in reply.get("upserted", [])}
    if not raced:
        return {index for index, doc in enumerate(docs) if doc["_id"] not in inserted}
    for query, update, upsert in updates:
        _update_alone(collection, query, update, upsert)
    same = same or (lambda stored, doc: stored == doc)
    stored = [collection.find_one({"_id": doc["_id"]}) for doc in docs]
    return {index for index, (found, doc) in enumerate(zip(stored, docs)) if found is None or not same(found, doc)}


def _write_concern(collection: Collection) -> dict:
    """The collection's write concern for a command sent as is (`Database.command` adds none of its own)."""
    concern = collection.write_concern.document
    return {"writeConcern": concern} if concern else {}


def _update_alone(collection: Collection, query: dict, update: dict, upsert: bool) -> None:
    """One update; run again once when its upsert raced another (the document exists then)."""
    run = collection.update_one if any(key.startswith("$") for key in update) else collection.replace_one
    try:
        run(query, update, upsert=upsert)
    except pymongo.errors.DuplicateKeyError:
        run(query, update, upsert=upsert)
