"""The search interaction (GET [type]?..., POST [type]/_search) answering a `searchset` Bundle."""
from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

from validation.definitions import structure_definitions

from ..errors import BadRequest, operation_outcome
from ..search.chains import store_resolver
from ..search.filters import FIELD_PREFIX, search_filter
from ..search.query import SearchRequest, parse_search
from ..search.registry import parameters
from ..storage.resources import ResourceStore, StoredVersion
from .checks import check_type
from .includes import MAX_INCLUDED, NAMES, included, is_include_item, parse_includes

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
ALWAYS_KEPT = ("resourceType", "id", "meta")


def search_bundle(store: ResourceStore, base: str, resource_type: str, items: list[tuple[str, str]],
                  strict: bool, default_count: int, max_count: int, render_resource) -> dict:
    """The searchset Bundle; `render_resource(version)` gives each entry's full resource. Resources added by
    `_include` / `_revinclude` follow the matches (mode include); they count neither in `total` nor in paging."""
    check_type(resource_type, "search-type")
    includes = parse_includes(resource_type, [(k, v) for k, v in items if is_include_item(k)], strict)
    request = parse_search(resource_type, [(k, v) for k, v in items if not is_include_item(k)], strict)
    count = min(request.count if request.count is not None else default_count, max_count)
    if request.summary == "count":
        count = 0
    with_total = request.total != "none" or count == 0
    query = search_filter(request, resolve=store_resolver(store))
    versions, total = store.search_page(resource_type, query, _sort(request), request.offset, count, with_total)
    extra, capped = included(store, versions, includes.directives) if includes.directives else ([], False)

    bundle: dict = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = _links(base, resource_type, request, count, total, len(versions),
                            [d.query_pair() for d in includes.directives])
    entries = [{"fullUrl": f"{base}/{v.type}/{v.id}", "resource": _shaped(render_resource(v), request),
                "search": {"mode": "match"}} for v in versions]
    entries += [{"fullUrl": f"{base}/{v.type}/{v.id}", "resource": _summarised(render_resource(v), request),
                 "search": {"mode": "include"}} for v in extra]
    issues = [("not-supported", f"Parameter '{name}' was ignored") for name in request.ignored + includes.ignored]
    issues += [("not-supported", problem) for problem in request.problems + includes.problems]
    if capped:
        issues.append(("too-costly", f"Only the first {MAX_INCLUDED} included resources are returned"))
    if issues:
        outcome = operation_outcome([{"severity": "warning", "code": code, "diagnostics": message}
                                     for code, message in issues])
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def _sort(request: SearchRequest) -> list[tuple[str, int]]:
    fields = []
    for code, descending in request.sort:
        direction = -1 if descending else 1
        if code == "_id":
            fields.append(("_id", direction))
            break  # the id is unique: later keys cannot reorder anything
        parameter = parameters(request.resource_type).get(code)
        if parameter is None or parameter.type not in FIELD_PREFIX:
            raise BadRequest(f"Cannot sort on '{code}'")
        fields.append((f"{FIELD_PREFIX[parameter.type]}:{code}", direction))
    return fields


def _links(base: str, resource_type: str, request: SearchRequest, count: int, total: int | None,
           found: int, include_pairs: list[tuple[str, str]]) -> list[dict]:
    query = [(k, v) for k, v in request.self_query() if k not in ("_count", "_offset", *NAMES)]
    query += include_pairs

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
    """`_elements` keeps the named top-level elements; `_summary` keeps a subset (see `_summarised`)."""
    if request.elements:
        kept = {k: v for k, v in resource.items() if k in ALWAYS_KEPT or k in request.elements}
        return _subsetted(kept)
    return _summarised(resource, request)


def _summarised(resource: dict, request: SearchRequest) -> dict:
    """`_summary=true` keeps the summary elements, `text` the narrative, `data` drops the narrative; each with
    the mandatory top-level elements, id and meta, and marked SUBSETTED (FHIR R4 search.html#summary)."""
    if request.summary == "data":
        return _subsetted({k: v for k, v in resource.items() if k != "text"})
    if request.summary not in ("true", "text"):
        return resource
    resource_type = resource.get("resourceType", "")
    summary, mandatory = _summary_elements(resource_type)
    if not summary and not mandatory:
        return resource  # a type without a StructureDefinition: nothing to go by
    wanted = (summary | mandatory) if request.summary == "true" else (mandatory | {"text"})
    return _subsetted({k: v for k, v in resource.items() if k in ALWAYS_KEPT or _element(k) in wanted})


def _element(key: str) -> str:
    """The element a JSON key stands for: `_birthDate` (a primitive's extensions) -> `birthDate`."""
    return key[1:] if key.startswith("_") else key


@lru_cache(maxsize=None)
def _summary_elements(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """(summary, mandatory) top-level element names of `resource_type` from its StructureDefinition snapshot;
    a choice element `value[x]` is listed under each of its JSON names (`valueString`...)."""
    definition = structure_definitions().get(resource_type) or {}
    summary: set[str] = set()
    mandatory: set[str] = set()
    for element in (definition.get("snapshot") or {}).get("element", []):
        path = element.get("path", "")
        head, _, name = path.partition(".")
        if head != resource_type or not name or "." in name:
            continue
        names = {name}
        if name.endswith("[x]"):
            stem = name[:-3]
            names = {stem + t["code"][0].upper() + t["code"][1:] for t in element.get("type", []) if t.get("code")}
        if element.get("isSummary"):
            summary |= names
        if element.get("min", 0) >= 1:
            mandatory |= names
    return frozenset(summary), frozenset(mandatory)


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
    versions, _ = store.search_page(resource_type, search_filter(request, resolve=store_resolver(store)), [], 0, limit, with_total=False)
    return versions
