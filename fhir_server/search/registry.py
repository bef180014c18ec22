"""The SearchParameters we support: profiles/search-parameters.json (official R4 definitions, CC0, written by
scripts/extract_search_parameters.py) and profiles/mhd-search-parameters.json (those IHE MHD adds: `creation`
on DocumentReference, `designationType` and `sourceId` on List). Official expressions cover several resource
types at once (`Patient.name | Practitioner.name`); each `SearchParam` keeps only the parts for its type.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SEARCHABLE_TYPES = ("Patient", "DocumentReference", "List", "Consent", "AuditEvent", "Practitioner", "Organization",
                    "RelatedPerson")
PROFILES = Path(__file__).resolve().parents[2] / "profiles"
DEFINITIONS = (PROFILES / "search-parameters.json", PROFILES / "mhd-search-parameters.json")

_ORDERED = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
# The R4 modifiers and comparators of each parameter type (https://hl7.org/fhir/R4/search.html), used when a
# definition publishes none (the official ones never list modifiers).
_MODIFIERS = {
    "string": ("missing", "exact", "contains"),
    "token": ("missing", "text", "not", "above", "below", "in", "not-in", "of-type"),
    "reference": ("missing", "type", "identifier", "above", "below"),
    "uri": ("missing", "above", "below"),
}
_COMPARATORS = {"date": _ORDERED, "number": _ORDERED, "quantity": _ORDERED}


@dataclass(frozen=True)
class SearchParam:
    code: str
    type: str
    expression: str
    targets: tuple[str, ...]
    url: str
    description: str
    modifiers: tuple[str, ...]
    comparators: tuple[str, ...]


_RESOLVE_IS = re.compile(r"\.where\(resolve\(\) is (\w+)\)$")


def split_union(expression: str) -> list[str]:
    """The top-level `|`-separated parts of a FHIRPath expression (not those inside parentheses or quotes)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, c in enumerate(expression):
        if c == "'":
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        elif not quoted and depth == 0 and c == "|":
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _expression_for(expression: str, resource_type: str) -> str:
    def applies(part: str) -> bool:
        head = part.lstrip("(")
        return head.startswith(f"{resource_type}.") or head.startswith("Resource.")
    return " | ".join(p for p in split_union(expression) if applies(p))


def _targets(definition: dict, expression: str) -> tuple[str, ...]:
    """The parameter's target types, narrowed to those its expression for this type keeps: the shared
    `patient` parameter lists Patient and Group, but DocumentReference's `subject.where(resolve() is Patient)`
    only ever holds Patients (so `patient=1` means `Patient/1`)."""
    targets = tuple(definition.get("target", ()))
    parts = split_union(expression)
    kept = {m.group(1) for part in parts for m in [_RESOLVE_IS.search(part)] if m}
    if parts and len(kept) == 1 and all(_RESOLVE_IS.search(part) for part in parts) and kept <= set(targets):
        return tuple(kept)
    return targets


def _search_param(definition: dict, resource_type: str) -> SearchParam:
    kind = definition["type"]
    expression = _expression_for(definition.get("expression", ""), resource_type)
    return SearchParam(
        code=definition["code"],
        type=kind,
        expression=expression,
        targets=_targets(definition, expression),
        url=definition["url"],
        description=definition.get("description", ""),
        modifiers=tuple(definition.get("modifier") or _MODIFIERS.get(kind, ("missing",))),
        comparators=tuple(definition.get("comparator") or _COMPARATORS.get(kind, ())),
    )


@lru_cache(maxsize=1)
def _definitions() -> tuple[dict, ...]:
    definitions: list[dict] = []
    for path in DEFINITIONS:
        with path.open("rb") as f:
            definitions += [entry["resource"] for entry in json.load(f).get("entry", [])]
    return tuple(definitions)


@lru_cache(maxsize=None)
def parameters(resource_type: str) -> dict[str, SearchParam]:
    """The search parameters of `resource_type` by code, Resource-level ones (`_id`, `_lastUpdated`...)
    included; empty for a type we do not search. Treat the result as read-only (it is cached)."""
    result: dict[str, SearchParam] = {}
    if resource_type not in SEARCHABLE_TYPES:
        return result
    for definition in _definitions():
        bases = definition.get("base", [])
        if resource_type in bases or "Resource" in bases:
            result[definition["code"]] = _search_param(definition, resource_type)
    return dict(sorted(result.items()))
