"""What each patient chose to be told, and where: `notification_settings`, `_id` = Patient id.

Fields: `email` (the address for notices, before the Patient's own `telecom`), and one boolean per optional
kind of notice (`document-changed`, `consultation`; absent = on). Documents `consulted:<patient>:<IDNPS>`
mark that a professional's first consultation of a record was noticed: inserting the mark (a unique `_id`)
is what makes only the first one notified, whatever the node that served it.
"""
from __future__ import annotations

import re
from datetime import datetime

import pymongo
from pymongo.database import Database

from .mongo import NOTIFICATION_SETTINGS

OPTIONAL = ("document-changed", "consultation")  # the kinds of notice a patient may turn off


class NotificationSettings:
    def __init__(self, db: Database) -> None:
        self.collection = db[NOTIFICATION_SETTINGS]

    def get(self, patient_id: str) -> dict:
        return self.collection.find_one({"_id": patient_id}) or {"_id": patient_id}

    def wants(self, patient_id: str, kind: str) -> bool:
        return kind not in OPTIONAL or self.get(patient_id).get(kind, True) is not False

    def choose(self, patient_id: str, choices: dict[str, bool]) -> None:
        self.collection.update_one({"_id": patient_id}, {"$set": {k: bool(v) for k, v in choices.items()
                                                                  if k in OPTIONAL}}, upsert=True)

    def set_email(self, patient_id: str, email: str | None) -> None:
        update = {"$set": {"email": email}} if email else {"$unset": {"email": ""}}
        self.collection.update_one({"_id": patient_id}, update, upsert=True)

    def first_consultation(self, patient_id: str, professional: str, at: datetime) -> bool:
        """Marks that this professional consulted the record; True the first time only."""
        try:
            self.collection.insert_one({"_id": f"consulted:{patient_id}:{professional}", "at": at})
        except pymongo.errors.DuplicateKeyError:
            return False
        return True

    def delete_patient(self, patient_id: str) -> None:
        """Forgets a purged record's settings and marks."""
        self.collection.delete_one({"_id": patient_id})
        self.collection.delete_many({"_id": {"$regex": f"^{re.escape(f'consulted:{patient_id}:')}"}})
