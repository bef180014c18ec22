"""The audit trail's hash-chain links in the database (audit/chain.py decides what they hold and in what order).

A link is the document `<key>:<n, 12 digits>` of `AUDIT_CHAIN`; `<key>:head` keeps a hint of a chain's last
position (`$max`: it may lag, never lead). Links are only inserted (by an upsert that sets their fields only
when their `_id` is free: storage/mongo.write_each), never updated: `_id` is unique, so of two writers
claiming the same position exactly one wins, which is what keeps a chain from forking without
transactions. FerretDB v1 hands SQLite only a lone `{_id: <string>}` filter (anything else scans the
collection), so the hot path reads and writes by `_id` only, several links or heads per command;
`keys` and `delete_chain`, offline or rare, may scan.
"""
from __future__ import annotations

from pymongo.database import Database

from .mongo import AUDIT_CHAIN, write_each


def link_id(key: str, n: int) -> str:
    return f"{key}:{n:012d}"


def head_id(key: str) -> str:
    return f"{key}:head"


class AuditLinks:
    def __init__(self, db: Database) -> None:
        self.collection = db[AUDIT_CHAIN]

    def hint(self, key: str) -> int:
        """The head's hint of chain `key`'s last position (0: no chain)."""
        head = self.collection.find_one({"_id": head_id(key)})
        return head["last"] if head else 0

    def link(self, key: str, n: int) -> dict | None:
        return self.collection.find_one({"_id": link_id(key, n)})

    def claim(self, links: list[dict]) -> set[int]:
        """Inserts the links (each with its `_id`) and raises their chains' head hints, in one command; returns
        the indexes of the links whose position another writer holds already (a head raised to it still never
        leads: that position exists). Any other error is raised (nothing is known to be stored then)."""
        if not links:
            return set()
        heads: dict[str, int] = {}
        for link in links:
            heads[link["key"]] = max(heads.get(link["key"], 0), link["n"])
        return write_each(self.collection, links,
                          [({"_id": head_id(key)}, {"$max": {"last": n}, "$set": {"key": key}}, True)
                           for key, n in heads.items()],
                          same=lambda stored, link: (stored.get("event_id"), stored.get("hash")) ==
                          (link["event_id"], link["hash"]))

    def keys(self) -> list[str]:
        """Every chain's key (a scan: for `audit verify`)."""
        return self.collection.distinct("key")

    def delete_chain(self, key: str) -> int:
        """Deletes chain `key`'s head and links; returns how many links it had."""
        self.collection.delete_one({"_id": head_id(key)})
        return self.collection.delete_many({"key": key}).deleted_count
