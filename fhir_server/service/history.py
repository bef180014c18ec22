"""History interactions (instance and type level) as Bundles of type `history`.

Paging is by offset under a fixed upper bound: the first page records the time it was taken
(`_before`), later pages keep it, so versions written meanwhile never shift the pages.
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from ..access.policy import RecordAccess
from ..errors import BadRequest, NotFound
from ..storage.resources import ResourceStore, StoredVersion, format_instant
from .checks import check_id, check_type

PARAMETERS = ("_count", "_since", "_before", "_offset", "_format", "_pretty")


def history_bundle(store: ResourceStore, rules: RecordAccess, base: str, resource_type: str, resource_id: str | None,
                   params: dict[str, str], default_count: int, max_count: int,
                   render_resource) -> dict:
    """The history Bundle; `render_resource(version)` gives each entry's resource."""
    check_type(resource_type, "history-instance" if resource_id else "history-type")
    if resource_id is not None:
        check_id(resource_id)
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise BadRequest(f"Unknown history parameter(s): {', '.join(unknown)} "
                         f"(supported: {', '.join(p for p in PARAMETERS if p != '_before')})")
    count = min(_integer(params, "_count", default_count), max_count)
    offset = _integer(params, "_offset", 0)
    since = _instant(params, "_since")
    before = _instant(params, "_before") or datetime.now(timezone.utc)
    before = before.replace(microsecond=before.microsecond // 1000 * 1000)  # as precise as the links
    excluded = rules.history_exclusions(resource_type) if resource_id is None else None
    if resource_id is not None:
        # a deleted resource too, judged by the version it deleted
        if store.current(resource_type, resource_id, reader=rules) is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
    versions, total = store.history_page(resource_type, resource_id, since, before, offset, count, excluded,
                                         reader=rules)

    path = f"{base}/{resource_type}" + (f"/{resource_id}" if resource_id else "") + "/_history"
    fixed = {k: params[k] for k in ("_since", "_format", "_pretty") if k in params}
    fixed["_before"] = format_instant(before)

    def link(relation: str, page_offset: int) -> dict:
        return {"relation": relation,
                "url": f"{path}?{urlencode({**fixed, '_count': count, '_offset': page_offset})}"}

    links = [link("self", offset)]
    if offset + count < total:
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(0, offset - count)))
    return {
        "resourceType": "Bundle",
        "type": "history",
        "total": total,
        "link": links,
        "entry": [_entry(base, v, render_resource) for v in versions],
    }


def _entry(base: str, version: StoredVersion, render_resource) -> dict:
    url = f"{version.type}/{version.id}"
    entry: dict = {"fullUrl": f"{base}/{url}"}
    if not version.deleted:
        entry["resource"] = render_resource(version)
    request_url = url if version.method in ("PUT", "PATCH", "DELETE") else version.type
    entry["request"] = {"method": version.method, "url": request_url}
    status = "201 Created" if version.method == "POST" or (version.version == 1 and not version.deleted) \
        else ("204 No Content" if version.deleted else "200 OK")
    entry["response"] = {"status": status, "etag": f'W/"{version.version}"',
                         "lastModified": version.last_updated_text}
    return entry


def _integer(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not value.isdigit() or len(value) > 9:
        raise BadRequest(f"{name} must be a non-negative integer below 10^9, not '{value}'")
    return int(value)


def _instant(params: dict[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an instant such as 2024-01-31T12:00:00Z, not '{value}'")
    if parsed.tzinfo is None:
        raise BadRequest(f"{name} must include a time zone, not '{value}'")
    return parsed
