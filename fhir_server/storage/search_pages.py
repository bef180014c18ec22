"""Search results kept for paging: the ids a search matched, in order, so that its pages do not move.

A search with more than one page stores its ordered ids (as HAPI FHIR does); `next` and `previous` links name
the stored search, so resources created, changed or deleted between two page requests neither shift the
pages nor repeat or skip a match. Each page shows the current version of its resources (a resource deleted
since is left out). Documents in `search_pages`: the search `<token>` (type, query, total, creation time)
and its ids in chunks `<token>:<n>` of CHUNK ids, all read by `_id`. Stored searches expire after a TTL.
"""
from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode

from pymongo.database import Database

from .mongo import SEARCH_PAGES
CHUNK = 1000
CLEANUP_EVERY = 60.0


class SearchPages:
    def __init__(self, db: Database, ttl_seconds: int) -> None:
        self.collection = db[SEARCH_PAGES]
        self.ttl = timedelta(seconds=ttl_seconds)
        self._cleaned = 0.0

    def save(self, resource_type: str, query: list[tuple[str, str]], ids: list[str], total: int | None,
             owner: str) -> str:
        """Stores a search's ordered ids for `owner` (who ran it: its pages are theirs alone); returns its
        token."""
        self._expire()
        token = secrets.token_urlsafe(16)
        created = datetime.now(timezone.utc)
        chunks = [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]
        if chunks:
            self.collection.insert_many(
                [{"_id": f"{token}:{n}", "ids": chunk, "created": created} for n, chunk in enumerate(chunks)])
        self.collection.insert_one({"_id": token, "type": resource_type, "query": urlencode(query),
                                    "size": len(ids), "total": total, "created": created, "owner": owner})
        return token

    def load(self, token: str, owner: str) -> dict | None:
        """The stored search (`type`, `query`, `size`, `total`), None if unknown, expired or another caller's
        (whose pages, counts included, are theirs: answered as unknown)."""
        if ":" in token:
            return None
        search = self.collection.find_one({"_id": token})
        if search is None or search["created"] < datetime.now(timezone.utc) - self.ttl \
                or search.get("owner") != owner:
            return None
        search["query"] = parse_qsl(search["query"], keep_blank_values=True)  # FerretDB has no nested arrays
        return search

    def ids(self, token: str, offset: int, count: int) -> list[str]:
        """Ids `offset` to `offset + count` of a stored search."""
        ids: list[str] = []
        for n in range(offset // CHUNK, (offset + count - 1) // CHUNK + 1 if count else 0):
            chunk = self.collection.find_one({"_id": f"{token}:{n}"})
            if chunk is None:
                break
            ids += chunk["ids"]
        start = offset - offset // CHUNK * CHUNK
        return ids[start:start + count]

    def _expire(self) -> None:
        """Deletes expired searches, at most once a minute per process."""
        if time.monotonic() - self._cleaned < CLEANUP_EVERY:
            return
        self._cleaned = time.monotonic()
        self.collection.delete_many({"created": {"$lt": datetime.now(timezone.utc) - self.ttl}})
