"""What `fhir-server import` leaves out of a FHIR unit: the entries of types this server does not store.

An export such as a Synthea patient Bundle holds, beside the Patient and its DocumentReferences, Encounters,
Observations, Claims and more (fhir_server/registry.py lists what is stored). The import leaves those entries
out of the transaction rather than refusing it whole, and turns each reference to what it left out into a
logical reference (FHIR R4 references.html#logical: `type`, with the `identifier` the conditional reference
or the resource left out gives, and the reference's `display`), or drops it where nothing would be left to
identify it. Each is named in a warning. `$ingest`, MLLP and `POST /` keep a transaction all or nothing.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..registry import RESOURCES
from .import_links import reference_key

UNSTORED = "left out: this server does not store these types"


@dataclass
class Kept:
    """A unit's transaction without the entries left out; `numbers[n]` is the index in the input of its
    entry n; `left_out` counts the entries left out by type; `warnings` names each reference changed."""
    bundle: dict
    numbers: list[int]
    left_out: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)


def leave_out_unstored(bundle: dict) -> Kept:
    """The transaction of the entries of stored types (the input is changed in place: references unlinked)."""
    entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
    targets: dict[str, tuple[str, dict]] = {}  # fullUrl or `Type/id` -> (type, resource) of an entry left out
    kept = Kept(bundle, [])
    for number, entry in enumerate(entries):
        kind = _kind(entry)
        if kind is None or kind in RESOURCES:
            kept.numbers.append(number)
            continue
        kept.left_out[kind] += 1
        resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
        given = resource.get("id")
        for name in (entry.get("fullUrl"), f"{kind}/{given}" if isinstance(given, str) else None):
            if isinstance(name, str):
                targets[name] = (kind, resource)
    if not kept.left_out:
        return kept
    kept.bundle = {**bundle, "entry": [entries[n] for n in kept.numbers]}
    for number in kept.numbers:
        resource = entries[number].get("resource") if isinstance(entries[number], dict) else None
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            _unlink(resource, resource["resourceType"], f"entry[{number}]", targets, kept.warnings)
    return kept


def summary(left_out: Counter) -> str:
    """`57 Encounter, 12 Claim left out: ...`, the most frequent type first."""
    return ", ".join(f"{count} {kind}" for kind, count in left_out.most_common()) + f" {UNSTORED}"


def _kind(entry: object) -> str | None:
    """The type an entry writes: its resource's, else the one its request URL names."""
    if not isinstance(entry, dict):
        return None
    resource = entry.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
        return resource["resourceType"]
    request = entry.get("request")
    url = request.get("url") if isinstance(request, dict) else None
    return (url.split("?")[0].split("/")[0] or None) if isinstance(url, str) else None


def _unlink(value: object, path: str, where: str, targets: dict[str, tuple[str, dict]], warnings: list[str]) -> bool:
    """Unlinks, in place, the references to what was left out; True when `value` is to be removed (a
    reference dropped, or an element that held only dropped ones)."""
    if isinstance(value, list):
        before = len(value)
        value[:] = [item for n, item in enumerate(value) if not _unlink(item, f"{path}[{n}]", where, targets, warnings)]
        return before > 0 and not value
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("reference"), str) and (target := _left_out(value["reference"], targets)):
        return _logical(value, *target, f"{where} {path}", warnings)
    for key in [k for k, item in value.items() if isinstance(item, (dict, list))]:
        if _unlink(value[key], f"{path}.{key}", where, targets, warnings):
            del value[key]
    return not value


def _left_out(reference: str, targets: dict[str, tuple[str, dict]]) -> tuple[str, dict | None] | None:
    """(type, identifier) of what a reference names if it was left out: an entry (by fullUrl or `Type/id`), or
    a type not stored (`Encounter/1`, `Encounter?identifier=...`)."""
    if reference in targets:
        kind, resource = targets[reference]
        identifiers = resource.get("identifier")
        return kind, next((i for i in (identifiers if isinstance(identifiers, list) else [])
                           if isinstance(i, dict) and i.get("system") and i.get("value")), None)
    kind = reference.split("?")[0].split("/")[0] if "?" in reference or reference.count("/") == 1 else ""
    if not kind[:1].isupper() or kind in RESOURCES:
        return None
    key = reference_key(reference)
    if key is None or "?" not in reference:
        return kind, None
    _, system, value = key.split("|", 2)
    return kind, {"system": system, "value": value}


def _logical(reference: dict, kind: str, identifier: dict | None, where: str, warnings: list[str]) -> bool:
    """Makes a reference logical; True (drop it) when neither an identifier nor a display is left."""
    text = reference.pop("reference")
    if identifier and "identifier" not in reference:
        reference["identifier"] = {"system": identifier["system"], "value": identifier["value"]}
    kept = [name for name in ("identifier", "display") if name in reference]
    said = f"{where}: {text} ({kind}): this server does not store that type"
    if not kept:
        warnings.append(f"{said}: dropped (nothing identifies it without the reference)")
        return True
    reference["type"] = kind
    warnings.append(f"{said}: kept as a logical reference ({', '.join(kept)})")
    return False
