"""Recording AuditEvents: built from an access (audit/events.py), chained per patient (audit/chain.py), then
stored as AuditEvent resources, searchable by their patient like any other, and checkpointed.

A patient id that is not a FHIR id (`Patient?_id=x:y`, an injection attempt) never becomes a chain key nor a
reference: the event goes to the server's chain and names the id asked as text."""
from __future__ import annotations

import dataclasses

from ..access.membership import RECORD
from ..audit.chain import CHAIN_KEY, SERVER_KEY, AuditChain
from ..audit.events import Access, audit_event
from ..search.values import index_fields
from ..storage.readers import ServerLookup
from ..storage.resources import ResourceStore
from ..storage.transactions import Write
from .ids import new_id
from .profiles import supported_profiles

SERVER_CHAIN = SERVER_KEY  # the chain of events that concern no patient's record
VERIFY = ServerLookup("audit verify")  # the events as recorded, re-hashed by `audit verify`


class AuditTrail:
    def __init__(self, store: ResourceStore, server: str = "fhir-server") -> None:
        self.store = store
        self.chain = AuditChain(store.db)
        self.server = server
        self.meta = {"profile": supported_profiles("AuditEvent")}  # what every event claims; outside the hash

    def record(self, access: Access, patient_id: str | None) -> dict:
        """Appends the access to the patient's chain (the server's when None, or when `patient_id` is not a
        FHIR id), stores the event, then checkpoints it."""
        if patient_id is not None and not (isinstance(patient_id, str) and CHAIN_KEY.fullmatch(patient_id)):
            access, patient_id = dataclasses.replace(access, asked_patient=str(patient_id)), None
        event_id = new_id()
        event = audit_event(dataclasses.replace(access, patient=patient_id), event_id, self.server)
        event = {**event, "meta": self.meta}
        key = patient_id or SERVER_CHAIN
        event = self.chain.append(key, event)
        # An event is written once and never changed: its first version and current document are inserted
        # directly (no write journal, no projection loop: nothing can race it).
        index = {**index_fields("AuditEvent", event), **({RECORD: f"Patient/{patient_id}"} if patient_id else {})}
        write = Write("AuditEvent", event_id, event, 0, "POST", None, index)
        self.store.project_new([reserved.doc for reserved in self.store.reserve_all([write])])
        self.chain.confirm(key, event)
        return event

    def read_event(self, event_id: str) -> dict | None:
        """A stored event as it was recorded (what `audit verify` re-hashes)."""
        version = self.store.current("AuditEvent", event_id, reader=VERIFY) \
            or self.store.version("AuditEvent", event_id, 1, reader=VERIFY)
        return version.resource if version is not None and not version.deleted else None
