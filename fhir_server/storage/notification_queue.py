"""The queue of e-mail notifications to patients, in `notifications`.

A notification: `_id`, `patient`, `kind`, `at` (when it happened), `status` (`pending`, `failed` or
`no-address`), `attempts` (failed so far), `next_try` and `last_error`. It is deleted once delivered, so the
collection holds only what is due or was given up: FerretDB v1 scans it for every filter but `_id`.

Several senders (a thread in each server worker, a CLI beside them) take due notifications by claiming them
one at a time: a claim is a document `{_id: "claim:<attempt>:<n>:<notification>", claim_of, attempt,
expires}`. Its `_id` is unique, so of concurrent senders exactly one inserts it (FerretDB v1 has no atomic
conditional update: two `find_one_and_update` on the same filter both succeed). The claim holds the
notification until `expires` (LEASE); a sender that died leaves an expired claim, and the next sender inserts
claim `n + 1`. A claim is only valid if the notification, read after it was inserted, still waits for that
attempt: so a sender working from a stale read gets nothing. A failed attempt moves the notification to its
next attempt (new claim ids). A sender that outlives its lease may deliver twice, so one delivery must take
well under LEASE (smtp.SmtpSettings.timeout).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pymongo
from pymongo.database import Database

from .mongo import NOTIFICATIONS

KINDS = ("record-created", "emergency-access", "document-changed", "consultation")
PENDING, FAILED, NO_ADDRESS = "pending", "failed", "no-address"
LEASE = timedelta(seconds=60)
FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=6)
MAX_ATTEMPTS = 12  # retried for about 21 hours


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1 min, 2, 4 ... at most 6 h."""
    return min(FIRST_DELAY * 2 ** min(attempts - 1, 20), MAX_DELAY)


class Notifications:
    def __init__(self, db: Database, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.collection = db[NOTIFICATIONS]
        self.max_attempts = max_attempts

    def enqueue(self, patient_id: str, kind: str, at: datetime, key: str | None = None) -> bool:
        """Queues a notification of what happened at `at` (aware datetime), due at once. With a `key`, False
        when this patient's notification of this kind and key is queued already (until it is delivered)."""
        if kind not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}")
        notification_id = uuid.uuid4().hex if key is None else f"{kind}:{patient_id}:{key}"
        try:
            self.collection.insert_one({"_id": notification_id, "patient": patient_id, "kind": kind, "at": at,
                                        "status": PENDING, "attempts": 0, "next_try": at})
        except pymongo.errors.DuplicateKeyError:
            return False
        return True

    def due(self, now: datetime, limit: int = 100) -> list[dict]:
        """Pending notifications whose time has come, oldest first; some may be claimed by another sender."""
        return list(self.collection.find({"status": PENDING, "next_try": {"$lte": now}})
                    .sort("next_try", pymongo.ASCENDING).limit(limit))

    def claim(self, notification: dict, now: datetime) -> dict | None:
        """Takes `notification` (as `due` read it) for this sender until `now + LEASE`: its current state, or
        None when another sender holds it or it is no longer due."""
        attempt = notification["attempts"]
        n = 0
        while True:
            claim_id = f"claim:{attempt}:{n}:{notification['_id']}"
            try:
                self.collection.insert_one({"_id": claim_id, "claim_of": notification["_id"], "attempt": attempt,
                                            "expires": now + LEASE})
                break
            except pymongo.errors.DuplicateKeyError:
                held = self.collection.find_one({"_id": claim_id})
                if held is None or held["expires"] > now:
                    return None
                n += 1  # its sender died
        current = self.collection.find_one({"_id": notification["_id"]})
        if current is None or current["status"] != PENDING or current["attempts"] != attempt:
            self.collection.delete_one({"_id": claim_id})
            return None
        return current

    def delivered(self, notification: dict) -> None:
        self.collection.delete_one({"_id": notification["_id"]})
        self.collection.delete_many({"claim_of": notification["_id"]})

    def attempt_failed(self, notification: dict, error: str, now: datetime) -> str:
        """Records a failed delivery of a claimed notification: it is due again after `backoff`, or given up
        (`failed`) after `max_attempts`. Returns its new status."""
        attempts = notification["attempts"] + 1
        status = FAILED if attempts >= self.max_attempts else PENDING
        self.collection.update_one({"_id": notification["_id"]}, {"$set": {
            "status": status, "attempts": attempts, "next_try": now + backoff(attempts), "last_error": error}})
        self.collection.delete_many({"claim_of": notification["_id"], "attempt": notification["attempts"]})
        return status

    def no_address(self, notification: dict) -> None:
        """Marks a claimed notification undeliverable (the patient has no e-mail address): not retried."""
        self.collection.update_one({"_id": notification["_id"]}, {"$set": {"status": NO_ADDRESS}})
        self.collection.delete_many({"claim_of": notification["_id"]})

    def delete_patient(self, patient_id: str) -> int:
        """Removes every notification of a patient (whose record is purged); returns how many."""
        ids = [doc["_id"] for doc in self.collection.find({"patient": patient_id}, {"_id": 1})]
        if not ids:
            return 0
        deleted = self.collection.delete_many({"_id": {"$in": ids}}).deleted_count
        self.collection.delete_many({"claim_of": {"$in": ids}})
        return deleted
