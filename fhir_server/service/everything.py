"""`Patient/[id]/$everything` (FHIR R4 patient-operation-everything): the patient and their whole record.

The record is every resource stored in the patient's record (decided when it was written:
access/membership.py) and the Binaries holding the content of its DocumentReferences. `_type` keeps
some types, `_since` the resources changed since an instant (the patient always comes first), `_count`
sizes the pages; the matches are kept for paging as a search's are (storage/search_pages.py).
"""
from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

from ..errors import BadRequest, Forbidden, Gone
from ..storage.resources import StoredVersion
from ..access.membership import RECORD, document_binaries
from .compartment import patient_compartment
from .resources import ResourceService
from .search import PAGES, PAGES_OFFSET, SearchContext, page_links

OPERATION = "$everything"
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")


def everything_bundle(service: ResourceService, context: SearchContext, patient_id: str,
                      items: list[tuple[str, str]]) -> dict:
    controls = dict(items)
    if PAGES in controls:
        return _stored_page(service, context, patient_id, controls)
    unknown = [name for name in controls if name not in ("_since", "_type", "_count")]
    if unknown:
        raise BadRequest(f"$everything takes _since, _type and _count, not {unknown[0]}")
    patient = service.read("Patient", patient_id)
    since = _since(controls.get("_since"))
    wanted = _types(controls.get("_type"))
    references = [f"Patient/{patient.id}"]
    documents: list[str] = []
    for resource_type in patient_compartment():
        if resource_type not in wanted and not (resource_type == "DocumentReference" and "Binary" in wanted):
            continue
        query = {"$and": [{RECORD: f"Patient/{patient.id}"}, {"deleted": False}]}
        try:
            ids, _ = context.store.search_ids(resource_type, query, [("ts", -1)], context.max_results, False,
                                              reader=context.rules)
        except Forbidden:  # a type the caller may not search (a patient's own Consents) adds nothing
            continue
        if resource_type == "DocumentReference":
            documents = ids
        if resource_type in wanted:
            references += [f"{resource_type}/{i}" for i in ids]
    if "Binary" in wanted:
        references += _binaries(context, documents)
    versions = [v for v in _versions(context, references) if v.type == "Patient" or context.can_read(v.type)]
    if since is not None:
        versions = [v for v in versions if v.type == "Patient" or v.last_updated >= since]
    references = [f"{v.type}/{v.id}" for v in versions][:context.max_results]
    count = _count(context, controls.get("_count"))
    base = f"{context.base}/Patient/{patient.id}/{OPERATION}"
    links = [{"relation": "self", "url": f"{base}?{urlencode(items)}" if items else base}]
    if count and len(references) > count:
        token = context.pages.save(f"Patient/{patient.id}/{OPERATION}", [], references, len(references),
                                   context.rules.caller)
        links += page_links(base, token, 0, count, len(references))[1:]
    return _bundle(context, versions[:count], len(references), links)


def _stored_page(service: ResourceService, context: SearchContext, patient_id: str, controls: dict) -> dict:
    search = context.pages.load(controls[PAGES], context.rules.caller)
    if search is None or search["type"] != f"Patient/{patient_id}/{OPERATION}":
        raise Gone(f"Page set '{controls[PAGES]}' is unknown or has expired; ask for $everything again")
    offset, count = controls.get(PAGES_OFFSET, "0"), controls.get("_count")
    if not offset.isdigit() or (count is not None and not count.isdigit()):
        raise BadRequest(f"{PAGES_OFFSET} and _count take non-negative integers")
    size = _count(context, count)
    references = context.pages.ids(controls[PAGES], int(offset), size)
    base = f"{context.base}/Patient/{patient_id}/{OPERATION}"
    links = page_links(base, controls[PAGES], int(offset), size, search["size"])
    return _bundle(context, _versions(context, references), search["total"], links)


def _bundle(context: SearchContext, versions: list[StoredVersion], total: int, links: list[dict]) -> dict:
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
    if versions:
        bundle["entry"] = [{"fullUrl": f"{context.base}/{v.type}/{v.id}", "resource": context.render_resource(v),
                            "search": {"mode": "match"}} for v in versions]
    return bundle


def _binaries(context: SearchContext, documents: list[str]) -> list[str]:
    """The Binaries the documents' attachments point at (relative `Binary/<id>` URLs)."""
    versions = context.store.current_versions("DocumentReference", documents, reader=context.rules)
    found = (document_binaries(v.resource or {}) for v in versions)
    return list(dict.fromkeys(f"Binary/{binary}" for ids in found for binary in ids))


def _versions(context: SearchContext, references: list[str]) -> list[StoredVersion]:
    """The current versions of `Type/id` references, in their order; deleted or unknown ones left out."""
    by_type: dict[str, list[str]] = {}
    for reference in references:
        resource_type, _, resource_id = reference.partition("/")
        by_type.setdefault(resource_type, []).append(resource_id)
    found = {f"{v.type}/{v.id}": v for resource_type, ids in by_type.items()
             for v in context.store.current_versions(resource_type, ids, reader=context.rules)}
    return [found[r] for r in references if r in found]


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    if not _INSTANT.fullmatch(value):
        raise BadRequest(f"_since takes an instant such as 2024-01-01T00:00:00Z, not {value!r}")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _types(value: str | None) -> set[str]:
    every = {*patient_compartment(), "Binary"}
    if value is None:
        return every
    wanted = {t.strip() for t in value.split(",") if t.strip()}
    unknown = wanted - every - {"Patient"}
    if unknown:
        raise BadRequest(f"_type: {', '.join(sorted(unknown))} is not in a patient's record here "
                         f"({', '.join(sorted(every))})")
    return wanted


def _count(context: SearchContext, value: str | None) -> int:
    if value is not None and not value.isdigit():
        raise BadRequest(f"_count takes a non-negative integer, not {value!r}")
    return min(int(value) if value is not None else context.default_count, context.max_count)
