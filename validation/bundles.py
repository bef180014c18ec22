"""The rules of Bundle.entry.fullUrl and of references inside a document or message (R4 bundle.html and
documents.html), as the HL7 validator applies them (BundleValidator).

- A fullUrl is an absolute URI (``http://...``, ``urn:uuid:...``, ``urn:oid:...``), never relative.
- A fullUrl that is a RESTful URL (``http://a/fhir/Patient/1``) agrees with its entry's resource: the
  resource has an id and the fullUrl ends with its ``Type/id``.
- In a document, the Composition's subject, author, encounter, custodian, attester.party, event.detail and
  its sections' author, focus and entry resolve to exactly one entry of the Bundle; in a message, the
  MessageHeader's focus does. An absolute or ``urn:`` reference is an entry's fullUrl; a relative one
  (``Patient/2``, ``Patient/2/_history/1``) is resolved against the base of the Composition's (MessageHeader's)
  fullUrl when that is RESTful (``http://a/fhir/Composition/1`` makes ``Patient/2``
  ``http://a/fhir/Patient/2``), else it is the entry with that type and id; a version picks the entry with
  that ``meta.versionId``. When the Composition's fullUrl is not RESTful (``urn:uuid:...``), a relative reference
  resolves to no entry: bundle.html#references, "else no rules apply. The reference has no defined meaning".
- The paging links (``self``, ``first``, ``previous``, ``next``, ``last``) each name one page (search.html#paging
  and the IANA link relations R4 refers to): a relation occurs once.
- In a search set, an entry's ``search.mode`` says what its resource is (search-entry-mode): a ``match`` is of
  a type the search was on (the ``self`` link's ``[base]/[type]?`` or its ``_type``), ``outcome`` is "an
  OperationOutcome", and the resources a server returns have ids (resource.html#id: only a resource being
  created has none), so ``match`` and ``include`` entries do.
- A conditional reference (``Patient?identifier=x``, references.html and http.html#trules) holds a search:
  ``name=value`` pairs joined by ``&``, each name a search parameter name (with its modifier or chain), no
  ``=`` in a value.
"""
from __future__ import annotations

import re
from typing import Protocol

from .issues import Issue
from .paths import element_path
from .schema import resource_types

_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^ ]+")
_RESTFUL = re.compile(r"(?P<base>https?://(?:[A-Za-z0-9\\.:%$\-_]*/)*?)?(?P<type>[A-Za-z]+)/"
                      r"(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/(?P<version>[A-Za-z0-9\-.]{1,64}))?")
# The elements of a document's Composition and a message's MessageHeader whose references must resolve,
# as the names on their path (repetitions left out; a section may nest sections).
_DOCUMENT = re.compile(r"(subject|author|encounter|custodian|attester\.party|event\.detail"
                       r"|(section\.)+(author|focus|entry))\.reference")
_MESSAGE = re.compile(r"focus\.reference")
_FIRST_RESOURCE = {"document": ("Composition", _DOCUMENT), "message": ("MessageHeader", _MESSAGE)}
_PAGING = frozenset({"self", "first", "previous", "next", "last"})
_PARAMETER_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9.:\-]*")


class Walked(Protocol):
    """A nested resource as the invariant walk leaves it: its location and its Reference.reference values."""

    data: dict
    location: list
    references: list[tuple[list, str]]


def bundle_issues(bundle: dict, location: list, root: str, nested: list[Walked]) -> list[Issue]:
    """The fullUrl and reference problems of a Bundle at `location` (`nested`: its entries' resources)."""
    raw = bundle.get("entry")
    entries = [e if isinstance(e, dict) else {} for e in raw] if isinstance(raw, list) else []
    issues = []
    for index, entry in enumerate(entries):
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url:
            issues += _full_url_issues(full_url, entry.get("resource"),
                                       element_path(root, [*location, "entry", index, "fullUrl"]))
    issues += _link_issues(bundle.get("link"), location, root)
    if bundle.get("type") == "searchset":
        issues += _search_issues(bundle, entries, location, root)
    first = next((w for w in nested if w.location[len(location):] == ["entry", 0, "resource"]), None)
    type_name, paths = _FIRST_RESOURCE.get(bundle.get("type"), (None, None))
    if first is not None and first.data.get("resourceType") == type_name:
        own_url = entries[0].get("fullUrl")
        for reference_location, reference in first.references:
            named = ".".join(step for step in reference_location[len(first.location):] if isinstance(step, str))
            if paths.fullmatch(named):
                issues += _resolution_issues(reference, own_url if isinstance(own_url, str) else "", entries,
                                             element_path(root, reference_location[:-1]))
    return issues


def _full_url_issues(full_url: str, resource: object, path: str) -> list[Issue]:
    if not _ABSOLUTE.fullmatch(full_url):
        return [Issue("error", "value", path, f"A fullUrl must be an absolute URL (or a urn:uuid: or urn:oid:), "
                                              f"not {full_url!r}")]
    match = _RESTFUL.fullmatch(full_url)
    if not match or match["type"] not in resource_types() or not isinstance(resource, dict):
        return []
    found_type, found_id = resource.get("resourceType"), resource.get("id")
    if not found_id or not full_url.endswith(f"/{found_type}/{found_id}"):
        return [Issue("error", "invalid", path, f"The fullUrl {full_url!r} is a RESTful URL: it must end with the "
                                                f"entry resource's type and id ({found_type}/{found_id or '?'})")]
    return []


def _resolution_issues(reference: str, own_url: str, entries: list[dict], path: str) -> list[Issue]:
    if reference.startswith("#") or "?" in reference:
        return []  # contained, or conditional (a transaction's): not entries
    found = _matches(reference, own_url, entries)
    if found is None or len(found) == 1:
        return []
    if not found:
        return [Issue("error", "not-found", path, f"{reference!r} is not in the Bundle: the references of a "
                                                  "document's Composition or a message's MessageHeader resolve to "
                                                  "its entries")]
    return [Issue("error", "multiple-matches", path, f"{reference!r} matches {len(found)} entries of the Bundle")]


def _matches(reference: str, own_url: str, entries: list[dict]) -> list[dict] | None:
    """The entries a reference designates (None: not a reference this check can resolve)."""
    if _ABSOLUTE.fullmatch(reference) and not reference.startswith(("http:", "https:")):
        return [e for e in entries if e.get("fullUrl") == reference]  # urn:uuid:, urn:oid:
    match = _RESTFUL.fullmatch(reference)
    if not match or match["type"] not in resource_types():
        return None
    version = match["version"]
    if match["base"]:
        target = reference.partition("/_history/")[0]
        found = [e for e in entries if e.get("fullUrl") == target]
    else:
        own = _RESTFUL.fullmatch(own_url)
        base = own["base"] if own and own["base"] else None
        target = f"{base}{match['type']}/{match['id']}"
        if base is None:
            return []  # no defined meaning (bundle.html#references)
        found = [e for e in entries if e.get("fullUrl") == target]
    return [e for e in found if _version(e) == version] if version else found


def _resource(entry: dict) -> dict:
    resource = entry.get("resource")
    return resource if isinstance(resource, dict) else {}


def _version(entry: dict) -> object:
    meta = _resource(entry).get("meta")
    return meta.get("versionId") if isinstance(meta, dict) else None


def _link_issues(links: object, location: list, root: str) -> list[Issue]:
    issues, seen = [], set()
    for index, link in enumerate(links if isinstance(links, list) else ()):
        relation = link.get("relation") if isinstance(link, dict) else None
        if relation in _PAGING:
            if relation in seen:
                issues.append(Issue("error", "invalid", element_path(root, [*location, "link", index, "relation"]),
                                    f"The link relation {relation!r} occurs more than once: it names one page"))
            seen.add(relation)
    return issues


def _search_issues(bundle: dict, entries: list[dict], location: list, root: str) -> list[Issue]:
    searched = _searched_types(bundle.get("link"))
    issues = []
    for index, entry in enumerate(entries):
        search, resource = entry.get("search"), entry.get("resource")
        mode = search.get("mode") if isinstance(search, dict) else None
        if not isinstance(resource, dict) or mode not in ("match", "include", "outcome"):
            continue
        path = element_path(root, [*location, "entry", index, "resource"])
        found = resource.get("resourceType")
        if mode == "outcome":
            if found != "OperationOutcome":
                issues.append(Issue("error", "invalid", path, f"An entry of search mode 'outcome' is an "
                                                              f"OperationOutcome, not a {found}"))
            continue
        if not resource.get("id"):
            issues.append(Issue("error", "required", path, f"A search result ({mode}) has an id: resources "
                                                           "returned by a server have one"))
        if mode == "match" and searched and found not in searched:
            issues.append(Issue("error", "invalid", path, f"A search match is of a type searched ({', '.join(searched)}: "
                                                          f"the self link), not {found}"))
    return issues


def _searched_types(links: object) -> list[str]:
    """The resource types a search set's self link searched: [base]/[type]?... or _type=a,b."""
    url = next((link.get("url") for link in links if isinstance(link, dict) and link.get("relation") == "self"),
               None) if isinstance(links, list) else None
    if not isinstance(url, str):
        return []
    head, _, query = url.partition("?")
    last = head.rstrip("/").rsplit("/", 1)[-1]
    if last in resource_types():
        return [last]
    return [name for part in query.split("&") if part.startswith("_type=")
            for name in part[len("_type="):].split(",") if name]


def conditional_reference_issues(reference: str, path: str) -> list[Issue]:
    """A conditional reference ([type]?[search]) whose search is not a query string of parameters."""
    kind, _, query = reference.partition("?")
    if kind not in resource_types():
        return []
    parts = [part for part in query.split("&") if part]
    if parts and all(_PARAMETER_NAME.fullmatch(name) and sep and "=" not in value
                     for name, sep, value in (part.partition("=") for part in parts)):
        return []
    return [Issue("error", "invalid", path, f"{reference!r}: a conditional reference is [type]?[search], the search "
                                            "made of name=value parameters joined by '&'")]
