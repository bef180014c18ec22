"""A record's lifecycle, as its owner decides it: close, reopen, delete for good; oppositions; retention.

- Closing makes the record's content (documents, lists, Binaries) inaccessible to everyone and keeps it
  `retention_years` (10 by default) from the closure; the owner can reopen it meanwhile, and
  `fhir-server retention run` purges the records past their retention.
- Definitive deletion purges at once every version, index entry and Binary of the record (the Patient, the
  resources of their compartment, the Binaries of their documents, their AuditEvents and audit chain), their
  account, letters, notifications, choices of notices and portal sessions; the `records` entry keeps only
  when and how much was erased.
- An opposition (by national identifier, received by the insurer's channel: `fhir-server records oppose`)
  refuses every later push for that person; a record they had is purged.
"""
from __future__ import annotations

from collections.abc import Callable

from datetime import datetime, timedelta, timezone

from ..audit.chain import AuditChain
from ..storage.notification_queue import Notifications
from ..storage.auth import PatientAccounts
from ..storage.notification_settings import NotificationSettings
from ..storage.portal_sessions import PortalSessions
from ..storage.mongo import LETTERS
from ..storage.purge import purge
from ..storage.readers import ServerLookup
from ..storage.records import Records
from ..storage.resources import ResourceStore
from ..access.membership import RECORD, RECORD_TYPES, document_binaries
from .compartment import patient_compartment

PURGE = ServerLookup("record purge")  # what a purge erases


class RecordLifecycle:
    def __init__(self, store: ResourceStore, retention_years: int = 10,
                 delete_chain: Callable[[str], int] | None = None) -> None:
        """`delete_chain`: how a purged record's audit chain is deleted (the server's audit trail, so that its
        writer forgets the chain too), by default directly."""
        self.store = store
        self.delete_chain = delete_chain or AuditChain(store.db).delete_key
        self.records = Records(store.db)
        self.retention = timedelta(days=round(365.25 * retention_years))

    def state(self, patient_id: str) -> str:
        return (self.records.get(patient_id) or {}).get("state", "open")

    def close(self, patient_id: str) -> datetime:
        """Closes the record; returns until when its content is kept."""
        now = datetime.now(timezone.utc)
        self.records.close(patient_id, now, now + self.retention)
        return now + self.retention

    def reopen(self, patient_id: str) -> bool:
        return self.records.reopen(patient_id)

    def delete(self, patient_id: str, opposed: bool = False) -> int:
        """Purges the record at once; returns how many resources were erased. Marked first with what it holds,
        so that a purge a crash interrupted is finished by the next `purge_due` (the purge is idempotent)."""
        targets = self.records.mark_purging(patient_id, datetime.now(timezone.utc), self._targets(patient_id))
        purge(self.store, targets)
        db = self.store.db
        PatientAccounts(db).delete(patient_id)
        db[LETTERS].delete_many({"patient": patient_id})
        Notifications(db).delete_patient(patient_id)
        NotificationSettings(db).delete_patient(patient_id)
        PortalSessions(db).end_all(patient_id)
        self.delete_chain(patient_id)
        self.records.mark_purged(patient_id, datetime.now(timezone.utc), len(targets), opposed)
        return len(targets)

    def purge_due(self, now: datetime | None = None) -> list[str]:
        """The retention job: purges closed records past their retention (and unfinished purges)."""
        due = self.records.due(now or datetime.now(timezone.utc))
        for patient_id in due:
            self.delete(patient_id)
        return due

    def oppose(self, system: str, value: str) -> list[str]:
        """Records an opposition; purges the records of Patients holding that identifier (returned)."""
        self.records.oppose(system, value, datetime.now(timezone.utc))
        key = f"{system}|{value}"
        ids, _ = self.store.search_ids("Patient", {"t:identifier": key}, [], 100, False, reader=PURGE)
        for patient_id in ids:
            self.delete(patient_id, opposed=True)
        return ids

    def _targets(self, patient_id: str) -> list[tuple[str, str]]:
        """Every resource of the record, deleted ones included (their earlier versions hold its data)."""
        reference = f"Patient/{patient_id}"
        targets: dict[tuple[str, str], None] = {("Patient", patient_id): None}
        for resource_type in [t for t in RECORD_TYPES if t != "Patient"]:
            params = patient_compartment().get(resource_type, ())
            listed = self.store.postings.members(f"{resource_type}>{reference}") if self.store.postings else None
            ids = set(listed or [])  # every id ever listed (lists are never pruned); else the history scanned
            if listed is None:
                for field in (RECORD, *(f"r:{param}" for param in params)):
                    ids.update(self.store.history.distinct("rid", {"type": resource_type, field: reference}))
            targets.update(dict.fromkeys((resource_type, i) for i in sorted(ids)
                                         if not self._in_another_record(resource_type, i, reference)))
        for resource_type, resource_id in list(targets):
            if resource_type == "DocumentReference":
                targets.update(dict.fromkeys(("Binary", b) for b in self._binaries(resource_id, reference)))
        return list(targets)

    def _in_another_record(self, resource_type: str, resource_id: str, record: str) -> bool:
        """Whether the resource is kept with another record (`x:record`): naming this patient does not make it part
        of this one (an AuditEvent of a child's record naming the parent who acted as representative, a document
        the parent wrote there). A resource kept with no record is this one's when it names the patient."""
        current = self.store.current(resource_type, resource_id, reader=PURGE)
        kept = current.index.get(RECORD) if current is not None else None
        return isinstance(kept, str) and kept != record

    def _binaries(self, document_id: str, record: str) -> set[str]:
        """The Binaries any version of a document pointed at that are in this record or in none (written before
        records were kept with each resource): another record's Binary is never purged with this one."""
        found: set[str] = set()
        current = self.store.current("DocumentReference", document_id, reader=PURGE)
        for number in range(1, (current.version if current else 0) + 1):
            version = self.store.version("DocumentReference", document_id, number, reader=PURGE)
            found.update(document_binaries((version.resource if version else None) or {}))
        binaries = {b: self.store.current("Binary", b, reader=PURGE) for b in found}
        return {b for b, v in binaries.items() if v is not None and v.index.get(RECORD) in (None, record)}

