"""What the authorization server keeps (fhir_server/auth/): clients, its signing key, used assertion ids and
revoked tokens. Every document is read and written by `_id`; a unique `_id` is also what makes "use an
assertion once" and "keep the first signing key" hold when several workers race."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import pymongo
from pymongo.database import Database

from .mongo import (LETTERS, OAUTH_ASSERTIONS, OAUTH_CLIENTS, OAUTH_CODES, OAUTH_KEYS, OAUTH_PENDING,
                    OAUTH_REVOKED, PATIENT_ACCOUNTS)


class ClientStore:
    def __init__(self, db: Database) -> None:
        self.collection = db[OAUTH_CLIENTS]

    def insert(self, client_id: str, fields: dict) -> None:
        self.collection.insert_one({"_id": client_id, **fields, "registered": datetime.now(timezone.utc)})

    def get(self, client_id: str) -> dict | None:
        return self.collection.find_one({"_id": client_id})

    def all(self) -> list[dict]:
        return list(self.collection.find({}))

    def status(self, client_id: str) -> str | None:
        """The client's reference status; None when there is no such client."""
        doc = self.collection.find_one({"_id": client_id}, {"status": 1})
        return doc["status"] if doc else None

    def statuses(self, client_ids: list[str]) -> dict[str, str]:
        """The reference status of each of `client_ids` that exists, in one read."""
        return {doc["_id"]: doc["status"]
                for doc in self.collection.find({"_id": {"$in": client_ids}}, {"status": 1})}

    def set_status(self, client_id: str, status: str) -> bool:
        """False when there is no such client."""
        return self.collection.update_one({"_id": client_id}, {"$set": {"status": status}}).matched_count == 1


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.collection = db[OAUTH_KEYS]

    def signing_key(self, generate) -> dict:
        """The stored signing key (a private JWK); `generate()` makes one the first time, and of several
        workers generating at once the first to insert wins."""
        stored = self.collection.find_one({"_id": "signing"})
        if stored is None:
            try:
                self.collection.insert_one({"_id": "signing", "jwk": generate()})
            except pymongo.errors.DuplicateKeyError:
                pass
            stored = self.collection.find_one({"_id": "signing"})
        return stored["jwk"]


class AssertionLog:
    def __init__(self, db: Database) -> None:
        self.collection = db[OAUTH_ASSERTIONS]

    def use_once(self, assertion_id: str, expires: datetime) -> bool:
        """Records an assertion id until it expires; False if it was used already."""
        self.collection.delete_many({"expires": {"$lt": datetime.now(timezone.utc) - timedelta(minutes=1)}})
        try:
            self.collection.insert_one({"_id": assertion_id, "expires": expires})
        except pymongo.errors.DuplicateKeyError:
            return False
        return True


class Revocations:
    def __init__(self, db: Database) -> None:
        self.collection = db[OAUTH_REVOKED]

    def revoke(self, token_id: str, expires: datetime) -> None:
        """Records a revoked token id until the token expires (those expired a minute ago are dropped)."""
        self.collection.delete_many({"expires": {"$lt": datetime.now(timezone.utc) - timedelta(minutes=1)}})
        try:
            self.collection.insert_one({"_id": token_id, "expires": expires})
        except pymongo.errors.DuplicateKeyError:
            pass  # revoked already

    def is_revoked(self, token_id: str) -> bool:
        return self.collection.find_one({"_id": token_id}, {"_id": 1}) is not None

    def unexpired(self) -> set[str]:
        """The ids of the revoked tokens that have not expired yet, in one read."""
        return {doc["_id"] for doc in self.collection.find({"expires": {"$gt": datetime.now(timezone.utc)}},
                                                           {"_id": 1})}


class PatientAccounts:
    """Patients' sign-in state, `_id` = Patient id: the pending activation code (its hash and expiry), the
    password hash, the end of a lockout and `round`, the current round of failed attempts. Hashes only: no
    code or password is stored.

    Failed attempts are counted in the database, shared by every worker and node, without an atomic update
    (FerretDB v1's `$inc` reads then writes: two attempts at once would count one): each failed attempt
    inserts its own document `<patient>:failed:<round>:<n>`, the first `n` free. `_id` is unique, so of
    attempts racing anywhere each gets its own `n`, and the one that gets the LOCK_AFTER-th locks. A success
    or a lock starts a new round (a fresh random `round`) and deletes the old round's attempts by `_id`."""

    FIRST_ROUND = "0"
    SLOTS = 20  # attempts of a round deleted by `_id` when it ends; more only from 20 attempts racing at once

    def __init__(self, db: Database) -> None:
        self.collection = db[PATIENT_ACCOUNTS]

    def get(self, patient_id: str) -> dict:
        return self.collection.find_one({"_id": patient_id}) or {"_id": patient_id}

    def set_activation(self, patient_id: str, code_hash: str, expires: datetime) -> None:
        self.collection.update_one({"_id": patient_id}, {"$set": {"activation": {"hash": code_hash, "expires": expires}}},
                                   upsert=True)

    def activate(self, patient_id: str, password_hash: str, round_: str) -> None:
        """The password is set and the activation code used up; failed attempts start again from 0."""
        self._new_round(patient_id, round_, {"$set": {"password": password_hash},
                                             "$unset": {"activation": "", "locked_until": ""}})

    def count_failure(self, patient_id: str, round_: str) -> int:
        """Records a failed attempt in round `round_` (the account's, as read); returns how many that round
        holds, this one included."""
        n = 1
        while True:
            try:
                self.collection.insert_one({"_id": _attempt_id(patient_id, round_, n), "account": patient_id,
                                            "at": datetime.now(timezone.utc)})
                return n
            except pymongo.errors.DuplicateKeyError:
                n += 1

    def lock(self, patient_id: str, until: datetime, round_: str) -> None:
        """Locked until `until`; the attempts after it count from 0."""
        self._new_round(patient_id, round_, {"$set": {"locked_until": until}})

    def succeeded(self, patient_id: str, round_: str) -> None:
        self._new_round(patient_id, round_, {"$unset": {"locked_until": ""}})

    def delete(self, patient_id: str) -> None:
        """The account and its failed attempts (a purged record's)."""
        self.collection.delete_one({"_id": patient_id})
        self.collection.delete_many({"account": patient_id})

    def _new_round(self, patient_id: str, round_: str, update: dict) -> None:
        update.setdefault("$set", {})["round"] = secrets.token_hex(6)
        self.collection.update_one({"_id": patient_id}, update, upsert=True)
        self.collection.delete_many({"_id": {"$in": [_attempt_id(patient_id, round_, n)
                                                     for n in range(1, self.SLOTS + 1)]}})


def _attempt_id(patient_id: str, round_: str, n: int) -> str:
    return f"{patient_id}:failed:{round_}:{n}"  # a Patient id never holds ":"


class AuthorizationCodes:
    """Authorization codes (`_id` = the code) and, under `used:<code>`, the mark that a code was exchanged:
    inserting the mark is what makes a code usable once, even when two requests race."""

    def __init__(self, db: Database) -> None:
        self.collection = db[OAUTH_CODES]

    def save(self, code: str, fields: dict) -> None:
        self.collection.insert_one({"_id": code, **fields})

    def get(self, code: str) -> dict | None:
        return self.collection.find_one({"_id": code}) if not code.startswith("used:") else None

    def use(self, code: str) -> bool:
        """False if the code was exchanged already."""
        try:
            self.collection.insert_one({"_id": f"used:{code}", "expires": datetime.now(timezone.utc)})
        except pymongo.errors.DuplicateKeyError:
            return False
        return True


class PendingSignIns:
    """A signed-in person choosing whose record to open (their own, or a minor's they represent): who signed
    in, kept two minutes under a random `_id` and taken once, so that the password is not sent again."""

    def __init__(self, db: Database) -> None:
        self.collection = db[OAUTH_PENDING]

    def save(self, pending_id: str, fields: dict) -> None:
        self.collection.insert_one({"_id": pending_id, **fields,
                                    "expires": datetime.now(timezone.utc) + timedelta(minutes=2)})

    def take(self, pending_id: str) -> dict | None:
        doc = self.collection.find_one({"_id": pending_id})
        if doc is None or doc["expires"] < datetime.now(timezone.utc):
            return None
        try:
            self.collection.insert_one({"_id": f"taken:{pending_id}", "expires": doc["expires"]})
        except pymongo.errors.DuplicateKeyError:
            return None
        return doc


class Letters:
    """The outbox of letters to patients (their provisional activation code): the one place a code exists in
    clear, until the postal or e-mail service takes the letter (`take_all`), which deletes it."""

    def __init__(self, db: Database) -> None:
        self.collection = db[LETTERS]

    def post(self, letter_id: str, patient_id: str, code: str) -> None:
        self.collection.insert_one({"_id": letter_id, "patient": patient_id, "code": code,
                                    "created": datetime.now(timezone.utc)})

    def take_all(self) -> list[dict]:
        letters = list(self.collection.find({}))
        for letter in letters:
            self.collection.delete_one({"_id": letter["_id"]})
        return letters
