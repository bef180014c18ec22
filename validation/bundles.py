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
  that ``meta.versionId``.
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
        same = (match["type"], match["id"])
        found = [e for e in entries if base and e.get("fullUrl") == target] or [
            e for e in entries if (_resource(e).get("resourceType"), _resource(e).get("id")) == same]
    return [e for e in found if _version(e) == version] if version else found


def _resource(entry: dict) -> dict:
    resource = entry.get("resource")
    return resource if isinstance(resource, dict) else {}


def _version(entry: dict) -> object:
    meta = _resource(entry).get("meta")
    return meta.get("versionId") if isinstance(meta, dict) else None
