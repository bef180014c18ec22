"""`fhir-server reindex`: the stored search fields computed again from the resources, after a change in
how they are indexed (search/values.py) left a database written before it with fields that are missing or
differ. Who wrote a resource (access/policy.py's WRITER) and the record it belongs to (decided on write:
access/membership.py) are kept."""
from __future__ import annotations

from functools import partial

from ..access.membership import RECORD
from ..access.policy import WRITER
from ..registry import RESOURCES
from ..storage.resources import ResourceStore
from .resources import search_index


def reindex(store: ResourceStore, resource_types: list[str] | None = None) -> dict[str, int]:
    """Reindexes each type (every type by default); returns how many documents changed per type."""
    return {kind: store.reindex(kind, partial(_fields, kind)) for kind in resource_types or sorted(RESOURCES)}


def _fields(resource_type: str, resource: dict, stored: dict) -> dict:
    return {**search_index(resource_type, resource), **{k: stored[k] for k in (WRITER, RECORD) if k in stored}}
