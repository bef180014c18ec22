"""The search interaction (GET [type]?..., POST [type]/_search) answering a `searchset` Bundle."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

from validation.definitions import structure_definitions

from ..access.policy import RecordAccess
from ..errors import BadRequest, Gone, operation_outcome
from ..search.chains import linked_types, store_resolver
from ..search.filters import FIELD_PREFIX, search_filter
from ..search.query import SearchRequest, parse_search
from ..search.registry import parameters
from ..storage.readers import Reader
from ..storage.resources import ResourceStore, StoredVersion
from ..storage.search_pages import SearchPages
from .checks import check_type
from .includes import MAX_INCLUDED, included, is_include_item, parse_includes

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
ALWAYS_KEPT = ("resourceType", "id", "meta")


PAGES = "_getpages"
PAGES_OFFSET = "_getpagesoffset"


@dataclass
class SearchContext:
    """What the search interaction needs besides the request: the stores, the base URL and the limits."""

    store: ResourceStore
    pages: SearchPages
    base: str
    default_count: int
    max_count: int
    max_results: int  # the most matches a search keeps for paging
    render_resource: Callable[[StoredVersion], dict]  # each entry's full resource
    rules: RecordAccess  # the caller's: what they may see is all a search counts, pages and shows
    can_read: Callable[[str], bool] = lambda resource_type: True  # types the caller may see included
    # (type, SMART permissions) -> None or raises Forbidden: chained and _has criteria search other types
    permit: Callable[[str, str], None] = lambda resource_type, permissions: None


def search_bundle(context: SearchContext, resource_type: str, items: list[tuple[str, str]],
                  strict: bool) -> dict:
    """The searchset Bundle of a search, or of one page of an earlier search (`_getpages`). Resources added by
    `_include` / `_revinclude` follow the matches (mode include); they count neither in `total` nor in paging.
    A search with more than one page keeps its ordered matches (storage/search_pages.py): its `next` and
    `previous` links page through them, unmoved by writes made in between."""
    check_type(resource_type, "search-type")
    if any(name == PAGES for name, _ in items):
        return _stored_page(context, resource_type, items)
    if resource_type == "AuditEvent" and not any(name == "_sort" for name, _ in items):
        items = [*items, ("_sort", "-date")]  # an activity history reads newest first
    includes = parse_includes(resource_type, [(k, v) for k, v in items if is_include_item(k)], strict)
    request = parse_search(resource_type, [(k, v) for k, v in items if not is_include_item(k)], strict)
    for linked in sorted({t for criterion in request.criteria for t in linked_types(criterion)}):
        context.permit(linked, "s")
    count = _page_size(context, request.count)
    if request.summary == "count":
        count = 0
    with_total = request.total != "none" or count == 0
    store = context.store
    query = search_filter(request, resolve=store_resolver(store, context.rules))
    ids, total, versions = store.search_with_page(resource_type, query, sort_fields(request), context.max_results,
                                                  with_total, slice(request.offset, request.offset + count),
                                                  reader=context.rules)
    problems = [("not-supported", f"Parameter '{name}' was ignored") for name in request.ignored + includes.ignored]
    problems += [("not-supported", problem) for problem in request.problems + includes.problems]
    problems += _capped(context, request.count)
    if len(ids) == context.max_results and total != len(ids):
        problems.append(("too-costly", f"Only the first {context.max_results} matches can be paged through; "
                                       f"narrow the search to see the others"))
    kept = [(k, v) for k, v in request.self_query() if k not in ("_count", "_offset")]
    kept += [d.query_pair() for d in includes.directives]
    token = None
    if count and (request.offset > 0 or len(ids) > request.offset + count):
        token = context.pages.save(resource_type, kept, ids, total if with_total else None,
                                   context.rules.caller)
    links = [{"relation": "self", "url": _url(context.base, resource_type, [
        *kept, ("_count", str(count)), *([("_offset", str(request.offset))] if request.offset else [])])}]
    if token:
        links += page_links(f"{context.base}/{resource_type}", token, request.offset, count, len(ids))[1:]
    return _bundle(context, versions, total if with_total else None, links, request, includes.directives,
                   problems)


def _stored_page(context: SearchContext, resource_type: str, items: list[tuple[str, str]]) -> dict:
    """One page of a kept search: `_getpages=<token>&_getpagesoffset=<n>&_count=<n>`."""
    controls = dict(items)
    unknown = [name for name in controls if name not in (PAGES, PAGES_OFFSET, "_count")]
    if unknown:
        raise BadRequest(f"A page request takes only {PAGES}, {PAGES_OFFSET} and _count, not {unknown[0]}")
    token, offset, count = controls[PAGES], controls.get(PAGES_OFFSET, "0"), controls.get("_count")
    if not offset.isdigit() or (count is not None and not count.isdigit()):
        raise BadRequest(f"{PAGES_OFFSET} and _count take non-negative integers")
    search = context.pages.load(token, context.rules.caller)
    if search is None:
        raise Gone(f"Search '{token}' is unknown or has expired; run the search again")
    if search["type"] != resource_type:
        raise BadRequest(f"Search '{token}' is a search on {search['type']}, not {resource_type}")
    query = search["query"]
    request = parse_search(resource_type, [(k, v) for k, v in query if not is_include_item(k)], strict=False)
    includes = parse_includes(resource_type, [(k, v) for k, v in query if is_include_item(k)], strict=False)
    asked = int(count) if count is not None else request.count
    size = _page_size(context, asked)
    start = int(offset)
    ids = context.pages.ids(token, start, size)
    links = page_links(f"{context.base}/{resource_type}", token, start, size, search["size"])
    versions = context.store.current_versions(resource_type, ids, reader=context.rules)
    return _bundle(context, versions, search["total"], links, request, includes.directives,
                   _capped(context, asked))


def visible(rules: RecordAccess, versions: list[StoredVersion]) -> list[StoredVersion]:
    """The versions the caller may see (and, for the audit trail, has seen): a search's matches are counted
    under the same rules as a query, its included resources found with it (storage/readers.py)."""
    return [v for v in versions if rules.visible(v)]


def _page_size(context: SearchContext, asked: int | None) -> int:
    return min(asked if asked is not None else context.default_count, context.max_count)


def _capped(context: SearchContext, asked: int | None) -> list[tuple[str, str]]:
    """The warning of a page asked larger than the server's maximum (FHIR_SEARCH_PAGE_MAX), which it is cut to."""
    if asked is None or asked <= context.max_count:
        return []
    return [("too-costly", f"_count={asked} is above this server's largest page ({context.max_count}): "
                           f"pages hold {context.max_count} matches")]


def _bundle(context: SearchContext, versions: list[StoredVersion], total: int | None, links: list[dict],
            request: SearchRequest, directives: list, problems: list[tuple[str, str]]) -> dict:
    extra, capped = included(context.store, context.rules, versions, directives) if directives else ([], False)
    extra = visible(context.rules, [v for v in extra if context.can_read(v.type)])
    bundle: dict = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    base, render = context.base, context.render_resource
    entries = [{"fullUrl": f"{base}/{v.type}/{v.id}", "resource": _shaped(render(v), request),
                "search": {"mode": "match"}} for v in versions]
    entries += [{"fullUrl": f"{base}/{v.type}/{v.id}", "resource": _summarised(render(v), request),
                 "search": {"mode": "include"}} for v in extra]
    if capped:
        problems = [*problems, ("too-costly", f"Only the first {MAX_INCLUDED} included resources are returned")]
    if problems:
        outcome = operation_outcome([{"severity": "warning", "code": code, "diagnostics": message}
                                     for code, message in problems])
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def sort_fields(request: SearchRequest) -> list[tuple[str, int]]:
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


def _url(base: str, resource_type: str, pairs: list[tuple[str, str]]) -> str:
    return f"{base}/{resource_type}?{urlencode(pairs)}"


def page_links(url: str, token: str, offset: int, count: int, size: int) -> list[dict]:
    """self, then next and previous when there are such pages, of `size` kept matches paged at `url`."""
    def link(relation: str, start: int) -> dict:
        return {"relation": relation,
                "url": f"{url}?{urlencode([(PAGES, token), (PAGES_OFFSET, str(start)), ('_count', str(count))])}"}

    links = [link("self", offset)]
    if count and offset + count < size:
        links.append(link("next", offset + count))
    if count and offset > 0:
        links.append(link("previous", max(0, offset - count)))
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


def matching(store: ResourceStore, reader: Reader, resource_type: str, criteria: str,
             limit: int) -> list[StoredVersion]:
    """Current resources matching the criteria of a conditional interaction (`identifier=...`) that the
    `reader` may see (the caller's rules: what they may not see matches nothing; or a `ServerLookup` for a
    decision that shows none, such as who signs in or whether a hidden Patient exists); every criterion must be
    understood (an ignored one could match the wrong resource)."""
    try:
        items = parse_qsl(criteria.lstrip("?"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise BadRequest(f"Conditional criteria '{criteria}' are not a valid query string")
    items = [(k, v) for k, v in items if k not in ("_format", "_pretty")]
    if not items:
        raise BadRequest("Conditional criteria are empty: they must name at least one search parameter")
    request = parse_search(resource_type, items, strict=True)
    query = search_filter(request, resolve=store_resolver(store, reader))
    versions, _ = store.search_page(resource_type, query, [], 0, limit, with_total=False, reader=reader)
    return versions
