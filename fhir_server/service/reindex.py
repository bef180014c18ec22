"""`fhir-server reindex`: the stored search fields computed again from the resources, after a change in
how they are indexed (search/values.py) left a database written before it with fields that are missing or
differ. Who wrote a resource (access/policy.py's WRITER) and the record it belongs to (decided on write:
access/membership.py) are kept; a resource written before records were kept gets its record here, as a
write would decide it (a Binary: its securityContext, else the one record of the documents pointing at it),
or none when its patient cannot be resolved (it is then its writer's only)."""
from __future__ import annotations

from functools import partial

from ..access.membership import RECORD, RECORD_ELEMENTS, Resolver, binary_context, record_of, with_record
from ..access.policy import WRITER, stored_patients
from ..errors import Unprocessable
from ..registry import RESOURCES
from ..storage.readers import ServerLookup
from ..storage.resources import ResourceStore
from .resources import search_index

REINDEX = ServerLookup("reindex")  # placing stored resources in their records


def reindex(store: ResourceStore, resource_types: list[str] | None = None) -> dict[str, int]:
    """Reindexes each type (every type by default); returns how many documents changed per type."""
    resolver = stored_patients(store)
    return {kind: store.reindex(kind, partial(_fields, store, resolver, kind))
            for kind in resource_types or sorted(RESOURCES)}


def _fields(store: ResourceStore, resolver: Resolver, resource_type: str, resource: dict, stored: dict) -> dict:
    fields = {**search_index(resource_type, resource), **({WRITER: stored[WRITER]} if WRITER in stored else {})}
    record = stored.get(RECORD)
    if record is None and (resource_type in RECORD_ELEMENTS or resource_type == "Binary"):
        record = _legacy_record(store, resolver, resource_type, resource)
    return with_record(resource_type, fields, record)


def _legacy_record(store: ResourceStore, resolver: Resolver, resource_type: str, resource: dict) -> str | None:
    """The record of a resource stored before records were kept, as a write decides it (None when its
    patient cannot be resolved)."""
    if resource_type != "Binary":
        return _record_or_none(resolver, resource_type, resource)
    context = binary_context(resource, resolver.base)
    if context is not None and context[0] == "Patient" and resolver.patient(context[1]):
        return f"Patient/{context[1]}"
    ids, _ = store.search_ids("DocumentReference", {"u:location": f"Binary/{resource.get('id')}"}, [], 100,
                              False, reader=REINDEX)
    documents = [d.resource for d in store.current_versions("DocumentReference", ids, reader=REINDEX)
                 if d.resource]
    records = {_record_or_none(resolver, "DocumentReference", d) for d in documents} - {None}
    return records.pop() if len(records) == 1 else None


def _record_or_none(resolver: Resolver, resource_type: str, resource: dict) -> str | None:
    try:
        return record_of(resource_type, str(resource.get("id")), resource, resolver)
    except Unprocessable:
        return None
