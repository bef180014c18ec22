"""The audit tests' chain on the test database, and a stand-in for the store of AuditEvents."""
from __future__ import annotations

import copy

import pytest

from fhir_server.audit.chain import AuditChain


class EventStore:
    """Stands in for the FHIR resource store: keeps copies, adding `meta` as the store does."""

    def __init__(self) -> None:
        self.events: dict[str, dict] = {}

    def persist(self, event: dict) -> None:
        self.events[event["id"]] = {**copy.deepcopy(event), "meta": {"versionId": "1",
                                                                     "lastUpdated": "2024-05-02T08:30:15.123Z"}}

    def read(self, event_id: str) -> dict | None:
        event = self.events.get(event_id)
        return copy.deepcopy(event) if event else None


@pytest.fixture()
def chain(db) -> AuditChain:
    return AuditChain(db)


@pytest.fixture()
def store() -> EventStore:
    return EventStore()
