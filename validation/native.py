"""The invariants evaluated in Python rather than by fhirpathpy: those R4 puts on every element (ele-1),
extension (ext-1), resource (dom-2, dom-4 to dom-6), reference (ref-1) and Bundle entry (bdl-3 to bdl-5,
bdl-7, bdl-8), which fhirpathpy would evaluate in 20 µs to 1 ms each, many times per resource. Each check
reads as its expression (corrected as in corrections.py) and returns whether the invariant holds;
tests/validation/test_invariants.py compares them with fhirpathpy. dom-3 needs the whole resource walked
(invariants.py).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Context(Protocol):
    """Where an element is: `data` is its %resource, `root` its %rootResource (the container of a contained one)."""

    data: dict
    root: dict


Check = Callable[[dict, Context], bool]


def ele_1(element: dict, _context: Context) -> bool:
    """hasValue() or (children().count() > id.count()): a complex element holds more than an id."""
    return not element.keys() <= {"id"}


def ext_1(extension: dict, _context: Context) -> bool:
    """extension.exists() != value.exists()"""
    return ("extension" in extension) != any(name.startswith(("value", "_value")) for name in extension)


def dom_2(resource: dict, _context: Context) -> bool:
    """contained.contained.empty()"""
    return all("contained" not in contained for contained in _contained(resource))


def dom_4(resource: dict, _context: Context) -> bool:
    """contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()"""
    return all(not {"versionId", "lastUpdated", "_versionId", "_lastUpdated"} & _meta(c).keys()
               for c in _contained(resource))


def dom_5(resource: dict, _context: Context) -> bool:
    """contained.meta.security.empty()"""
    return all("security" not in _meta(contained) for contained in _contained(resource))


def dom_6(resource: dict, context: Context) -> bool:
    """(%rootResource != $this) or text.`div`.exists(): a resource, unless contained, has a narrative."""
    text = resource.get("text")
    return context.root is not resource or (isinstance(text, dict) and "div" in text)


def ref_1(reference: dict, context: Context) -> bool:
    """reference.exists() implies (reference = '#' or reference.startsWith('#').not() or
    (reference.substring(1) in %rootResource.contained.id))"""
    value = reference.get("reference")
    if not isinstance(value, str) or value == "#" or not value.startswith("#"):
        return True
    return any(contained.get("id") == value[1:] for contained in _contained(context.root))


def bdl_3(bundle: dict, _context: Context) -> bool:
    """entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or
    %resource.type = 'history'))"""
    return _each_entry_has(bundle, "request", ("batch", "transaction", "history"))


def bdl_4(bundle: dict, _context: Context) -> bool:
    """entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type =
    'transaction-response' or %resource.type = 'history'))"""
    return _each_entry_has(bundle, "response", ("batch-response", "transaction-response", "history"))


def bdl_5(entry: dict, _context: Context) -> bool:
    """resource.exists() or request.exists() or response.exists()"""
    return not {"resource", "request", "response"}.isdisjoint(entry)


def bdl_7(bundle: dict, _context: Context) -> bool:
    """(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()"""
    if bundle.get("type") == "history":
        return True
    keys = [entry["fullUrl"] + _string(_meta(_dict(entry.get("resource"))).get("versionId"))
            for entry in _entries(bundle) if isinstance(entry.get("fullUrl"), str)]
    return len(keys) == len(set(keys))


def bdl_8(entry: dict, _context: Context) -> bool:
    """fullUrl.exists() implies fullUrl.contains('/_history/').not()"""
    return not isinstance(entry.get("fullUrl"), str) or "/_history/" not in entry["fullUrl"]


NATIVE: dict[str, Check] = {
    "ele-1": ele_1, "ext-1": ext_1, "dom-2": dom_2, "dom-4": dom_4, "dom-5": dom_5, "dom-6": dom_6, "ref-1": ref_1,
    "bdl-3": bdl_3, "bdl-4": bdl_4, "bdl-5": bdl_5, "bdl-7": bdl_7, "bdl-8": bdl_8}


def _each_entry_has(bundle: dict, name: str, types: tuple[str, ...]) -> bool:
    """Every entry has `name` exactly when the Bundle's type is one of `types` (no type: the schema says)."""
    kind = bundle.get("type")
    return not isinstance(kind, str) or all((name in entry) == (kind in types) for entry in _entries(bundle))


def _entries(bundle: dict) -> list[dict]:
    entries = bundle.get("entry")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _contained(resource: dict) -> list[dict]:
    contained = resource.get("contained")
    return [c for c in contained if isinstance(c, dict)] if isinstance(contained, list) else []


def _meta(resource: dict) -> dict:
    return _dict(resource.get("meta"))
