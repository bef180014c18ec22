"""Recording AuditEvents: built from an access (audit/events.py), chained per patient (audit/chain.py), then
stored as AuditEvent resources, searchable by their patient like any other, and checkpointed.

The events of concurrent requests are written together (service/group_commit.py): one commit chains them all
in one insert, stores them in one insert of versions and one of current documents, then checkpoints them in one
write; each request answers only once its own event is stored.

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
from .audit_writer import RemoteWriter
from .group_commit import GroupCommit
from .ids import new_id
from .profiles import supported_profiles

SERVER_CHAIN = SERVER_KEY  # the chain of events that concern no patient's record
VERIFY = ServerLookup("audit verify")  # the events as recorded, re-hashed by `audit verify`


class AuditTrail:
    def __init__(self, store: ResourceStore, server: str = "fhir-server",
                 writer: tuple[str, bytes] | None = None) -> None:
        """`writer`: the (socket, key) of the server's audit writer (service/audit_writer.py) to hand events to;
        without one, or while it cannot be reached, this trail writes them itself."""
        self.store = store
        self.chain = AuditChain(store.db)
        self.server = server
        self.meta = {"profile": supported_profiles("AuditEvent")}  # what every event claims; outside the hash
        self.group: GroupCommit[tuple[str, dict, dict], dict] = GroupCommit(self._commit)
        self.commit_all = self.group.submit_all
        remote = RemoteWriter(*writer, self.commit_all, self.chain.delete_key) if writer else None
        self.submit_all = remote.submit_all if remote else self.commit_all
        self.delete_chain = remote.delete_chain if remote else self.chain.delete_key

    def record(self, access: Access, patient_id: str | None) -> dict:
        """Appends the access to the patient's chain (the server's when None, or when `patient_id` is not a
        FHIR id), stores the event, then checkpoints it; returns the event as stored."""
        return self.record_all([(access, patient_id)])[0]

    def record_all(self, accesses: list[tuple[Access, str | None]]) -> list[dict]:
        """`record` for the events of one request (one per patient it concerned), committed together."""
        items = []
        for access, patient_id in accesses:
            if patient_id is not None and not (isinstance(patient_id, str) and CHAIN_KEY.fullmatch(patient_id)):
                access, patient_id = dataclasses.replace(access, asked_patient=str(patient_id)), None
            event = audit_event(dataclasses.replace(access, patient=patient_id), new_id(), self.server)
            event = {**event, "meta": self.meta}
            index = index_fields("AuditEvent", event)
            if patient_id:
                index[RECORD] = f"Patient/{patient_id}"
            items.append((patient_id or SERVER_CHAIN, event, index))
        return self.submit_all(items)

    def _commit(self, batch: list[tuple[str, dict, dict]]) -> list[dict]:
        """Chains, stores and checkpoints the events of a batch (key, event, index fields). An event is written
        once and never changed: its first version and current document are inserted directly (no write
        journal, no projection loop: nothing can race it)."""
        chained = self.chain.append_all([(key, event) for key, event, _ in batch])
        writes = [Write("AuditEvent", event["id"], event, 0, "POST", None, index)
                  for event, (_, _, index) in zip(chained, batch)]
        self.store.project_new([reserved.doc for reserved in self.store.reserve_all(writes)])
        self.chain.confirm_all([(key, event) for event, (key, _, _) in zip(chained, batch)])
        return chained

    def read_event(self, event_id: str) -> dict | None:
        """A stored event as it was recorded (what `audit verify` re-hashes)."""
        version = self.store.current("AuditEvent", event_id, reader=VERIFY) \
            or self.store.version("AuditEvent", event_id, 1, reader=VERIFY)
        return version.resource if version is not None and not version.deleted else None
