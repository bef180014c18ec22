"""The state of each patient's record, and the oppositions to a record's creation.

`records`: one document per patient who has a record, `_id` = the Patient id:
- `state`: `open`, `closed` (inaccessible, kept until `retain_until`, can be reopened) or `deleted` (purged:
  the document is then the minimal trace of the purge: when, and how much was erased);
- `blocked`: the national identifiers (IDNPS) of the professionals the patient blocked, `unreadable`: those
  refused consultation, `no_emergency`: whether the patient opposed emergency access, `no_feeding`: whether
  they opposed feeding the record. All are derived from the patient's active Consent resources
  (access/consents.py) each time one is written.
`record_oppositions`: `_id` = SHA-256 of `system|value` of an identifier of a person who opposed the
creation of their record (kept hashed: the store keeps no identity of people who have no record).

Every read on the request path is by `_id` (FerretDB v1 hands SQLite nothing else); only the cross-patient
listings (`denied`, `due`) scan, and the collection holds one small document per record.
"""
from __future__ import annotations

import hashlib
from datetime import datetime

import pymongo
from pymongo.database import Database

from .mongo import RECORDS, RECORD_OPPOSITIONS
from .parallel import each

OPEN, CLOSED, DELETED = "open", "closed", "deleted"


def identifier_key(system: str, value: str) -> str:
    return hashlib.sha256(f"{system}|{value}".encode("utf-8")).hexdigest()


class Records:
    def __init__(self, db: Database) -> None:
        self.records = db[RECORDS]
        self.oppositions = db[RECORD_OPPOSITIONS]

    def get(self, patient_id: str) -> dict | None:
        return self.records.find_one({"_id": patient_id})

    def get_all(self, patient_ids: list[str]) -> list[dict | None]:
        """`get` of each, read together (storage/parallel.py)."""
        return each(self.get, patient_ids)

    def open_if_new(self, patient_id: str, at: datetime) -> bool:
        """Creates the patient's record (open) unless it exists; True when this call created it. A purged
        record's trace is replaced: pushing for that patient again starts a new record."""
        try:
            self.records.insert_one({"_id": patient_id, "state": OPEN, "opened": at, "blocked": [],
                                     "no_emergency": False})
            return True
        except pymongo.errors.DuplicateKeyError:
            pass
        result = self.records.update_one({"_id": patient_id, "state": DELETED, "opposed": {"$exists": False}},
                                         {"$set": {"state": OPEN, "opened": at, "blocked": [],
                                                   "no_emergency": False},
                                          "$unset": {"purged": "", "erased": ""}})
        return result.modified_count == 1

    def set_rules(self, patient_id: str, at: datetime, *, blocked: list[str], unreadable: list[str],
                  no_emergency: bool, no_feeding: bool) -> None:
        """The patient's consent rules, as their active Consents say (creates the record if needed)."""
        self.open_if_new(patient_id, at)
        self.records.update_one({"_id": patient_id}, {"$set": {
            "blocked": sorted(set(blocked)), "unreadable": sorted(set(unreadable)), "no_emergency": no_emergency,
            "no_feeding": no_feeding}})

    def close(self, patient_id: str, at: datetime, retain_until: datetime) -> None:
        self.open_if_new(patient_id, at)
        self.records.update_one({"_id": patient_id},
                                {"$set": {"state": CLOSED, "closed": at, "retain_until": retain_until}})

    def reopen(self, patient_id: str) -> bool:
        result = self.records.update_one({"_id": patient_id, "state": CLOSED},
                                         {"$set": {"state": OPEN}, "$unset": {"closed": "", "retain_until": ""}})
        return result.modified_count == 1

    def mark_purging(self, patient_id: str, at: datetime, targets: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Before a purge: the record is inaccessible from now on, and what it holds is noted, so that a purge a
        crash interrupted is finished on the same resources (the purge erases what finds them). Returns the
        resources to purge: those noted by an earlier, unfinished purge as well."""
        earlier = [tuple(t.split("/", 1)) for t in (self.get(patient_id) or {}).get("purging_targets", [])]
        merged = list(dict.fromkeys([*earlier, *targets]))
        noted = [f"{resource_type}/{resource_id}" for resource_type, resource_id in merged]  # FerretDB: no nested arrays
        self.records.update_one({"_id": patient_id}, {"$set": {"state": DELETED, "purging": at, "purging_targets": noted}},
                                upsert=True)
        return merged

    def mark_purged(self, patient_id: str, at: datetime, erased: int, opposed: bool = False) -> None:
        """After a purge: only the trace remains (when, how many resources, whether the person opposed their
        record: then nothing is stored for that Patient id again), nothing about the person."""
        trace = {"state": DELETED, "purged": at, "erased": erased, **({"opposed": True} if opposed else {})}
        self.records.replace_one({"_id": patient_id}, trace, upsert=True)

    def denied(self, practitioner: str, emergency: bool) -> list[str]:
        """Patients whose record a professional may not see: closed or deleted, blocking them or refusing them
        consultation, or (for an emergency access) opposed to emergency access. Scans: for searches that name
        no patient."""
        conditions: list[dict] = [{"state": {"$ne": OPEN}}, {"blocked": practitioner}, {"unreadable": practitioner}]
        if emergency:
            conditions.append({"no_emergency": True})
        return [d["_id"] for d in self.records.find({"$or": conditions}, {"_id": 1})]

    def due(self, now: datetime) -> list[str]:
        """Records to purge: closed past their retention, or deleted with a purge left unfinished."""
        return [d["_id"] for d in self.records.find(
            {"$or": [{"state": CLOSED, "retain_until": {"$lte": now}}, {"state": DELETED, "purging": {"$exists": True}}]},
            {"_id": 1})]

    # -- oppositions ---------------------------------------------------------------------------
    def oppose(self, system: str, value: str, at: datetime) -> bool:
        try:
            self.oppositions.insert_one({"_id": identifier_key(system, value), "at": at})
            return True
        except pymongo.errors.DuplicateKeyError:
            return False

    def withdraw_opposition(self, system: str, value: str) -> bool:
        return self.oppositions.delete_one({"_id": identifier_key(system, value)}).deleted_count == 1

    def opposed(self, identifiers: list[tuple[str, str]]) -> bool:
        return any(self.oppositions.find_one({"_id": identifier_key(s, v)}, {"_id": 1}) for s, v in identifiers)
