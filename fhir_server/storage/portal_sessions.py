"""The patient portal's sessions (api/portal/), kept in the database so that any server node serves any of them.

A session: `_id` = SHA-256 of the cookie's random token (the token itself is never stored), `person` (the
signed-in person's Patient id), `ins` (theirs), `patient` (whose record is open: theirs, or a minor's they
represent), `csrf` (the forms' token), `names` (Patient id -> name, of the records they may open), `created`,
`expires` (idle expiry, moved forward as they use it) and `ends` (absolute expiry).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pymongo.database import Database

from .mongo import PORTAL_SESSIONS


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class PortalSessions:
    def __init__(self, db: Database) -> None:
        self.collection = db[PORTAL_SESSIONS]

    def start(self, token: str, fields: dict, now: datetime, idle: timedelta, lasts: timedelta) -> None:
        self.collection.delete_many({"expires": {"$lt": now}})  # the expired ones go as new ones come
        self.collection.insert_one({"_id": _key(token), **fields, "created": now, "expires": now + idle,
                                    "ends": now + lasts})

    def get(self, token: str, now: datetime) -> dict | None:
        """The live session of this token, None when unknown or expired."""
        session = self.collection.find_one({"_id": _key(token)})
        if session is None or session["expires"] <= now or session["ends"] <= now:
            return None
        return session

    def update(self, token: str, fields: dict) -> None:
        self.collection.update_one({"_id": _key(token)}, {"$set": fields})

    def end(self, token: str) -> None:
        self.collection.delete_one({"_id": _key(token)})

    def end_all(self, patient_id: str) -> None:
        """Ends every session of a record deleted for good: open on it, or of its owner (whose account goes)."""
        self.collection.delete_many({"$or": [{"patient": patient_id}, {"person": patient_id}]})
