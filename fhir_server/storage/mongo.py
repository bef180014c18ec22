"""Connecting to the database and creating its indexes."""
from __future__ import annotations

import pymongo
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
    # The authorization server's collections (fhir_server/auth), created up front like every collection.
    db[OAUTH_CLIENTS].create_index([("status", 1)], name="oauth_clients_status")
    db[OAUTH_ASSERTIONS].create_index([("expires", 1)], name="oauth_assertions_expires")
    db[OAUTH_REVOKED].create_index([("expires", 1)], name="oauth_revoked_expires")
    db[OAUTH_KEYS].create_index([("jwk.kid", 1)], name="auth_keys_kid")
    db[OAUTH_CODES].create_index([("expires", 1)], name="oauth_codes_expires")
    db[LETTERS].create_index([("created", 1)], name="letters_created")
    db[OAUTH_PENDING].create_index([("expires", 1)], name="oauth_pending_expires")
    db[PATIENT_ACCOUNTS].create_index([("locked_until", 1)], name="patient_accounts_locked")
    db[TRANSACTIONS].create_index([("expires", 1)], name="transactions_expires")
    db[SEARCH_PAGES].create_index([("created", 1)], name="search_pages_created")
    # Created up front like every collection, for their `_id` lookups to be indexed on FerretDB (postings.py).
    db[POSTINGS].create_index([("overflow", 1)], name="postings_overflow")
    db[POSTING_HEADS].create_index([("last", 1)], name="posting_heads_last")
    for resource_type in resource_types:
        db[resource_type].create_index([("ts", -1)], name="last_updated")
    for resource_type, indexes in (search_indexes or {}).items():
        for keys in indexes:
            db[resource_type].create_index(keys)
