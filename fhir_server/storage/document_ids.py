"""Documents' unique ids (`masterIdentifier`), each claimed by one document across every record.

XDS and MHD refuse a document whose unique id a stored document already has (XDSDuplicateUniqueIdInRegistry,
service/mhd.py). A claim is that rule's commit point: `_id` = the SHA-256 of `system|value`, inserted once,
so that two pushes of one id racing on any nodes cannot both take it, and found by its key on one shard
(a search by identifier would ask every shard: docs/scaling.md). It names the claiming document (`holder`,
`DocumentReference/<id>`), who claimed it (`by`, a writer as access/policy.py names them) and when (`at`).
What a claim held by another document means for a caller is the service's decision (storage/claims.py
has the claims' mechanics); this module knows which id a document claims.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from pymongo.database import Database

from .claims import Claims, claim_key
from .mongo import DOCUMENT_IDS

BUILT = "~built"  # the claim saying the documents stored before claims were kept have theirs (`build`)


def unique_id(document: dict | None) -> tuple[str, str] | None:
    """(system, value) of a DocumentReference's masterIdentifier, None when it has none."""
    master = (document or {}).get("masterIdentifier")
    if not isinstance(master, dict) or not isinstance(master.get("value"), str) or not master["value"]:
        return None
    return str(master.get("system") or ""), master["value"]


def key(system: str, value: str) -> str:
    return claim_key(f"{system}|{value}")


class DocumentIds(Claims):
    def __init__(self, db: Database) -> None:
        super().__init__(db, DOCUMENT_IDS)

    def forget_documents(self, documents: Iterable[tuple[str, dict | None]]) -> None:
        """Gives back the claims the (id, version) of purged DocumentReferences held."""
        held = {(key(*found), f"DocumentReference/{document_id}") for document_id, resource in documents
                if (found := unique_id(resource)) is not None}
        self.release(sorted(held))

    def build(self, current: Iterable[dict]) -> int:
        """Once per database: claims the ids of the documents stored before claims were kept (their current
        versions: `id` and FHIR JSON text in `json`); returns how many. Documents written meanwhile claim
        their own; of two stored documents with the same id, the first read keeps it."""
        if self.marked(BUILT):
            return 0
        claimed = 0
        for doc in current:
            found = unique_id(json.loads(doc["json"])) if doc.get("json") else None
            if found is not None:
                claimed += self.claim(key(*found), f"DocumentReference/{doc['_id']}", "", doc["ts"]) is None
        self.mark(BUILT)
        return claimed
