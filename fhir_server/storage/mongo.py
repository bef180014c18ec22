"""Connecting to the database and creating its indexes."""
from __future__ import annotations

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
AUDIT_CHAIN = "audit_chain"
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
    (RECORDS, "state"), (RECORDS, "blocked"), (RECORDS, "unreadable"), (RECORDS, "no_emergency"),  # `denied`
    (RECORD_OPPOSITIONS, "at"), (NOTIFICATIONS, "next_try"),
    (AUDIT_CHAIN, "key"),
]


def connect(uri: str, database_name: str) -> Database:
    client = pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000, appname="fhir-server")
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


def update_each(collection: Collection, updates: list[tuple[dict, dict]], upsert: bool = False) -> set[int]:
    """Runs the (filter, update) statements in unordered `update` commands of at most `STATEMENTS` each;
    returns the indexes of those that failed on a duplicate key (two upserts racing), and raises on any other
    failure. The commands are sent as is: pymongo's bulk_write cannot read FerretDB's answer when a statement
    fails (it lacks `nModified`)."""
    failed: set[int] = set()
    for start in range(0, len(updates), STATEMENTS):
        reply = collection.database.command({
            "update": collection.name, "ordered": False,
            "updates": [{"q": query, "u": update, "upsert": upsert}
                        for query, update in updates[start:start + STATEMENTS]]})
        errors = reply.get("writeErrors", [])
        if any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise pymongo.errors.OperationFailure(f"update of {collection.name} failed: {errors}", details=reply)
        failed |= {start + error["index"] for error in errors}
    return failed
