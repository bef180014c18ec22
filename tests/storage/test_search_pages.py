"""Kept search results: ids read back by page across chunk boundaries, unknown and expired searches."""
from __future__ import annotations

from fhir_server.storage.mongo import ensure_indexes
from fhir_server.storage.search_pages import CHUNK, SearchPages


def test_pages_across_chunks(db):
    ensure_indexes(db, [])
    pages = SearchPages(db, ttl_seconds=60)
    ids = [f"id-{n}" for n in range(2 * CHUNK + 500)]
    token = pages.save("Patient", [("family", "x"), ("_sort", "-birthdate")], ids, 2 * CHUNK + 500, "someone")
    search = pages.load(token, "someone")
    assert pages.load(token, "someone else") is None  # another caller's pages are unknown to them
    assert search["type"] == "Patient" and search["size"] == len(ids) and search["total"] == len(ids)
    assert search["query"] == [("family", "x"), ("_sort", "-birthdate")]
    assert pages.ids(token, CHUNK - 10, 20) == ids[CHUNK - 10:CHUNK + 10]
    assert pages.ids(token, len(ids) - 5, 20) == ids[-5:]
    assert pages.ids(token, len(ids), 20) == []
    assert pages.ids(token, 0, 0) == []
    assert pages.load(f"{token}:0", "someone") is None  # a chunk is not a search
    assert pages.load("no-such-search", "someone") is None


def test_expired_searches_are_gone(db):
    ensure_indexes(db, [])
    token = SearchPages(db, ttl_seconds=60).save("Patient", [], ["a", "b"], None, "someone")
    expired = SearchPages(db, ttl_seconds=0)
    assert expired.load(token, "someone") is None
    expired.save("Patient", [], ["c"], None, "someone")  # saving sweeps expired searches away
    assert db["search_pages"].count_documents({"_id": {"$regex": f"^{token}"}}) == 0
