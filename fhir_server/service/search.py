"""The search interaction (GET [type]?..., POST [type]/_search) answering a `searchset` Bundle."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from ..errors import BadRequest, operation_outcome
from ..search.filters import search_filter
from ..search.query import SearchRequest, parse_search
from ..search.registry import parameters
from ..storage.resources import ResourceStore, StoredVersion
from .checks import check_type

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
SORT_FIELD = {"string": "s", "token": "t", "reference": "r", "date": "dl", "uri": "u", "number": "n", "quantity": "n"}
ALWAYS_KEPT = ("resourceType", "id", "meta")


def search_bundle(store: ResourceStore, base: str, resource_type: str, items: list[tuple[str, str]],
                  strict: bool, default_count: int, max_count: int, render_resource) -> dict:
    """The searchset Bundle; `render_resource(version)` gives each entry's full resource."""
    check_type(resource_type, "search-type")
    request = parse_search(resource_type, items, strict)
    unsupported = [name for name, value in (("_summary", request.summary), ) if value in ("true", "text")]
    unsupported += ["_include"] * bool(request.include) + ["_revinclude"] * bool(request.revinclude)
    if unsupported and strict:
        raise BadRequest(f"Not supported yet: {', '.join(unsupported)}", code="not-supported")
    count = min(request.count if request.count is not None else default_count, max_count)
    if request.summary == "count":
        count = 0
    with_total = request.total != "none" or count == 0
    versions, total = store.search_page(resource_type, search_filter(request), _sort(request), request.offset,
                                        count, with_total)

    bundle: dict = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = _links(base, resource_type, request, count, total, len(versions))
    entries = [{"fullUrl": f"{base}/{v.type}/{v.id}", "resource": _shaped(render_resource(v), request),
                "search": {"mode": "match"}} for v in versions]
    ignored = request.ignored + unsupported
    if ignored or request.problems:
        messages = [f"Parameter '{name}' was ignored" for name in ignored] + list(request.problems)
        outcome = operation_outcome([{"severity": "warning", "code": "not-supported", "diagnostics": m}
                                     for m in messages])
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def _sort(request: SearchRequest) -> list[tuple[str, int]]:
    fields = []
    for code, descending in request.sort:
        if code == "_id":
            continue  # the id always ends the sort
        parameter = parameters(request.resource_type).get(code)
        if parameter is None or parameter.type not in SORT_FIELD:
            raise BadRequest(f"Cannot sort on '{code}'")
        fields.append((f"{SORT_FIELD[parameter.type]}:{code}", -1 if descending else 1))
    return fields


def _links(base: str, resource_type: str, request: SearchRequest, count: int, total: int | None,
           found: int) -> list[dict]:
    query = [(k, v) for k, v in request.self_query() if k not in ("_count", "_offset")]

    def link(relation: str, offset: int) -> dict:
        return {"relation": relation,
                "url": f"{base}/{resource_type}?{urlencode([*query, ('_count', count), ('_offset', offset)])}"}

    links = [link("self", request.offset)]
    more = request.offset + found < total if total is not None else found == count > 0
    if more:
        links.append(link("next", request.offset + count))
    if request.offset > 0 and count:
        links.append(link("previous", max(0, request.offset - count)))
    return links


def _shaped(resource: dict, request: SearchRequest) -> dict:
    """`_elements` keeps the named top-level elements (marked SUBSETTED); `_summary=data` drops the text."""
    if request.elements:
        kept = {k: v for k, v in resource.items() if k in ALWAYS_KEPT or k in request.elements}
        return _subsetted(kept)
    if request.summary == "data":
        return _subsetted({k: v for k, v in resource.items() if k != "text"})
    return resource


def _subsetted(resource: dict) -> dict:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), SUBSETTED]
    return {**resource, "meta": meta}


def matching(store: ResourceStore, resource_type: str, criteria: str, limit: int) -> list[StoredVersion]:
    """Current resources matching the criteria of a conditional interaction (`identifier=...`); every
    criterion must be understood (an ignored one could match the wrong resource)."""
    try:
        items = parse_qsl(criteria.lstrip("?"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise BadRequest(f"Conditional criteria '{criteria}' are not a valid query string")
    items = [(k, v) for k, v in items if k not in ("_format", "_pretty")]
    if not items:
        raise BadRequest("Conditional criteria are empty: they must name at least one search parameter")
    request = parse_search(resource_type, items, strict=True)
    versions, _ = store.search_page(resource_type, search_filter(request), [], 0, limit, with_total=False)
    return versions
