"""How `fhir-server import` links its input together, whatever the file or line order.

A first pass notes what each unit (a message, a document, a Bundle, an NDJSON line) *provides*: `Type/id` for
a resource written by id, `Type|system|value` for each of its identifiers; and what it *names*: relative
references `Type/id` and conditional references `Type?identifier=system|value`. Files, and the units of a
file, are then stored providers first (`providers_first`: a depth-first walk of these dependencies, linear in
the size of the input; a cycle is broken in input order).
A conditional reference by identifier that neither the store nor the input answers is kept as a logical
reference (`Reference.type` and `Reference.identifier`, its display kept) with a warning, rather than
refusing the unit (`keep_unresolved`): exports such as Synthea's name practitioners and organisations the
server does not hold. References to a Patient and to a DocumentReference stay strict: a resource about a
patient belongs to a known record (access/membership.py), and a document replaces a stored one
(service/lifecycle.py).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl

STRICT = ("Patient", "DocumentReference")  # conditional references to these are never made logical
_RELATIVE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")
_CONDITIONAL = re.compile(r"([A-Z][A-Za-z]+)\?(.+)")


def provided(bundle: dict) -> set[str]:
    """The keys of what a transaction Bundle writes: `Type/id` (written by id), `Type|system|value`."""
    keys: set[str] = set()
    for _, entry, resource in _entries(bundle):
        kind = resource["resourceType"]
        request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
        if request.get("method") == "PUT" and request.get("url") == f"{kind}/{resource.get('id')}":
            keys.add(request["url"])
        identifiers = resource.get("identifier")
        for identifier in [resource.get("masterIdentifier"),
                           *(identifiers if isinstance(identifiers, list) else [identifiers])]:
            if isinstance(identifier, dict) and identifier.get("system") and identifier.get("value"):
                keys.add(f"{kind}|{identifier['system']}|{identifier['value']}")
    return keys


def named(bundle: dict) -> set[str]:
    """The keys of what a transaction Bundle's resources refer to, but for what it writes itself."""
    keys = {key for _, _, resource in _entries(bundle) for _, reference in _references(resource, "")
            if (key := reference_key(reference.get("reference"))) is not None}
    return keys - provided(bundle)


def reference_key(reference: object) -> str | None:
    """`Type/id` for a relative reference, `Type|system|value` for `Type?identifier=system|value`."""
    if not isinstance(reference, str):
        return None
    if _RELATIVE.fullmatch(reference):
        return reference
    conditional = _CONDITIONAL.fullmatch(reference)
    if conditional is None:
        return None
    try:
        criteria = parse_qsl(conditional[2], strict_parsing=True)
    except ValueError:
        return None
    if len(criteria) != 1 or criteria[0][0] != "identifier":
        return None
    system, bar, value = criteria[0][1].partition("|")
    return f"{conditional[1]}|{system}|{value}" if bar and system and value else None


def providers_first(provides: list[set[str]], names: list[set[str]]) -> list[int]:
    """The indexes of items in an order where each comes after the first item providing what it names;
    otherwise in input order. Linear in the number of keys."""
    first: dict[str, int] = {}
    for number, keys in enumerate(provides):
        for key in keys:
            first.setdefault(key, number)

    def needs(number: int) -> Iterator[int]:
        return iter(sorted({first[k] for k in names[number] if k in first} - {number}))

    order: list[int] = []
    state = [0] * len(names)  # 0 not seen, 1 on the walk's path, 2 placed
    for root in range(len(names)):
        if state[root]:
            continue
        state[root] = 1
        path = [(root, needs(root))]
        while path:
            number, pending = path[-1]
            child = next((c for c in pending if state[c] == 0), None)  # one on the path: a cycle, broken here
            if child is None:
                path.pop()
                state[number] = 2
                order.append(number)
            else:
                state[child] = 1
                path.append((child, needs(child)))
    return order


def keep_unresolved(bundle: dict, answered: Callable[[str], bool], numbers: list[int] | None = None) -> list[str]:
    """Makes, in place, each conditional reference by identifier whose key `answered` says nothing answers
    (neither the store nor the input) a logical reference; returns a warning naming each (its entry by
    `numbers[n]`, the index in the input, when given)."""
    warnings = []
    for number, _, resource in _entries(bundle):
        for path, reference in _references(resource, resource["resourceType"]):
            text = reference.get("reference")
            key = reference_key(text)
            if key is None or "?" not in text or key.split("|", 1)[0] in STRICT or answered(key):
                continue
            kind, system, value = key.split("|", 2)
            del reference["reference"]
            reference.update(type=kind, identifier={"system": system, "value": value})
            warnings.append(f"entry[{numbers[number] if numbers else number}] {path}: {text} is neither stored nor in the input: kept as a "
                            f"logical reference (identifier)")
    return warnings


def _entries(bundle: dict) -> Iterator[tuple[int, dict, dict]]:
    """(index, entry, resource) for each entry holding a resource."""
    for number, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            yield number, entry, resource


def _references(value: object, path: str) -> Iterator[tuple[str, dict]]:
    """(element path, Reference) for each Reference in a resource (a dict holding a string `reference`)."""
    if isinstance(value, list):
        for n, item in enumerate(value):
            yield from _references(item, f"{path}[{n}]")
    elif isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            yield path, value
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                yield from _references(item, f"{path}.{key}")
