"""What the authorization server keeps (fhir_server/auth/): clients, its signing key, used assertion ids and
revoked tokens. Every document is read and written by `_id`; a unique `_id` is also what makes "use an
assertion once" and "keep the first signing key" hold when several workers race."""
from __future__ import annotations

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
    password hash, failed attempts and the end of a lockout. Hashes only: no code or password is stored."""

    def __init__(self, db: Database) -> None:
        self.collection = db[PATIENT_ACCOUNTS]

    def get(self, patient_id: str) -> dict:
        return self.collection.find_one({"_id": patient_id}) or {"_id": patient_id}

    def set_activation(self, patient_id: str, code_hash: str, expires: datetime) -> None:
        self.collection.update_one({"_id": patient_id}, {"$set": {"activation": {"hash": code_hash, "expires": expires}}},
                                   upsert=True)

    def activate(self, patient_id: str, password_hash: str) -> None:
        """The password is set and the activation code used up."""
        self.collection.update_one({"_id": patient_id}, {"$set": {"password": password_hash, "failures": 0},
                                                         "$unset": {"activation": "", "locked_until": ""}})

    def failed(self, patient_id: str, failures: int, locked_until: datetime | None) -> None:
        update: dict = {"$set": {"failures": failures}}
        if locked_until is not None:
            update["$set"]["locked_until"] = locked_until
        self.collection.update_one({"_id": patient_id}, update, upsert=True)

    def succeeded(self, patient_id: str) -> None:
        self.collection.update_one({"_id": patient_id}, {"$set": {"failures": 0}, "$unset": {"locked_until": ""}})


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
