"""`_include` and `_revinclude` (FHIR R4 search.html#include): the resources a search's matches refer to, and
those referring to them, added to the searchset with `search.mode = include`.

`SourceType:param[:TargetType]` names a reference parameter of SourceType. `_include` follows the references
that the matches of type SourceType hold in that parameter; `_revinclude` finds the SourceType resources whose
parameter refers to a match. The `:iterate` modifier (`:recurse` is taken as iterate) applies the directive
again to the resources it added, until nothing new is found (at most `MAX_ROUNDS`). Only relative references
(`Type/id`) to types the server serves are followed; the wildcard `*` is not supported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BadRequest, Forbidden
from ..registry import RESOURCES
from ..search.registry import parameters
from ..search.values import index_fields
from ..storage.readers import Reader
from ..storage.resources import ResourceStore, StoredVersion

MAX_INCLUDED = 1000
MAX_ROUNDS = 4
NAMES = ("_include", "_revinclude")
MODIFIERS = {"": False, "iterate": True, "recurse": True}
_DIRECTIVE = re.compile(r"([A-Z][A-Za-z]*):([a-z][a-z0-9-]*)(?::([A-Z][A-Za-z]*))?")
_RELATIVE = re.compile(r"([A-Z][A-Za-z]*)/([A-Za-z0-9\-.]{1,64})")


@dataclass(frozen=True)
class Include:
    """One `_include` (reverse False) or `_revinclude` (reverse True) directive, validated."""

    reverse: bool
    source: str
    code: str
    target: str | None
    iterate: bool
    raw: str

    def query_pair(self) -> tuple[str, str]:
        name = NAMES[self.reverse] + (":iterate" if self.iterate else "")
        return name, self.raw


@dataclass
class IncludeRequest:
    directives: list[Include]
    ignored: list[str]
    problems: list[str]


def is_include_item(name: str) -> bool:
    return name.partition(":")[0] in NAMES


def parse_includes(resource_type: str, items: list[tuple[str, str]], strict: bool) -> IncludeRequest:
    """Validate the `_include*` / `_revinclude*` pairs of a search on `resource_type`: an invalid one is a
    BadRequest when strict, otherwise left out and reported (`ignored` names it, `problems` says why)."""
    result = IncludeRequest([], [], [])
    for name, raw in items:
        if not raw:
            continue  # FHIR: a parameter without a value is ignored
        directive, reason = _directive(resource_type, name, raw)
        if reason:
            if strict:
                raise BadRequest(reason)
            result.ignored.append(f"{name}={raw}")
            result.problems.append(reason)
        elif directive not in result.directives:
            result.directives.append(directive)
    return result


def _directive(resource_type: str, name: str, raw: str) -> tuple[Include | None, str | None]:
    base, _, modifier = name.partition(":")
    if modifier not in MODIFIERS:
        return None, f"Search parameter '{name}': modifier ':{modifier}' is not supported"
    reverse, iterate = base == "_revinclude", MODIFIERS[modifier]
    if "*" in raw:
        return None, f"Search parameter '{name}': the wildcard in '{raw}' is not supported"
    match = _DIRECTIVE.fullmatch(raw)
    if not match:
        return None, f"Search parameter '{name}': '{raw}' is not SourceType:parameter[:TargetType]"
    source, code, target = match.groups()
    if not parameters(source):
        return None, f"Search parameter '{name}': '{source}' is not a resource type this server searches"
    if not reverse and not iterate and source != resource_type:
        return None, f"Search parameter '{name}': '{raw}' does not start with the searched type {resource_type}"
    param = parameters(source).get(code)
    if param is None:
        return None, f"Search parameter '{name}': {source} has no search parameter '{code}'"
    if param.type != "reference":
        return None, f"Search parameter '{name}': {source}:{code} is not a reference parameter"
    if target is not None and target not in param.targets:
        return None, f"Search parameter '{name}': {source}:{code} cannot refer to a '{target}'"
    if reverse and not iterate and (resource_type not in param.targets or target not in (None, resource_type)):
        return None, f"Search parameter '{name}': {source}:{code} cannot refer to a {resource_type}"
    return Include(reverse, source, code, target, iterate, raw), None


def included(store: ResourceStore, reader: Reader, matches: list[StoredVersion], directives: list[Include],
             limit: int = MAX_INCLUDED) -> tuple[list[StoredVersion], bool]:
    """The resources the directives add to `matches` that the reader may find (each once, none of the
    matches; a type the reader may not search adds none), and whether the `limit` cut them short."""
    seen = {(v.type, v.id) for v in matches}
    found: list[StoredVersion] = []
    frontier, active = list(matches), directives
    for _ in range(MAX_ROUNDS):
        added: list[StoredVersion] = []
        for directive in active:
            room = limit - len(found) - len(added)
            fetch = _revincluded if directive.reverse else _included
            try:
                fetched = fetch(store, reader, frontier, directive, room + 1)
            except Forbidden:
                continue
            for version in fetched:
                if (version.type, version.id) in seen:
                    continue
                if len(found) + len(added) >= limit:
                    return found + added, True
                seen.add((version.type, version.id))
                added.append(version)
        found += added
        frontier, active = added, [d for d in directives if d.iterate]
        if not frontier or not active:
            break
    return found, False


def _included(store: ResourceStore, reader: Reader, frontier: list[StoredVersion], directive: Include,
              limit: int) -> list[StoredVersion]:
    """The current resources that the frontier's `directive.source` resources refer to in its parameter."""
    wanted: dict[str, list[str]] = {}
    for version in frontier:
        if version.type != directive.source or version.resource is None:
            continue
        for value in index_fields(version.type, version.resource).get(f"r:{directive.code}", []):
            match = _RELATIVE.fullmatch(value)
            if not match or match[1] not in RESOURCES or directive.target not in (None, match[1]):
                continue
            ids = wanted.setdefault(match[1], [])
            if match[2] not in ids:
                ids.append(match[2])
    result: list[StoredVersion] = []
    for resource_type, ids in wanted.items():
        versions, _ = store.search_page(resource_type, {"_id": {"$in": ids}, "deleted": False}, [], 0,
                                        limit, False, reader=reader)
        result += versions
    return result


def _revincluded(store: ResourceStore, reader: Reader, frontier: list[StoredVersion], directive: Include,
                 limit: int) -> list[StoredVersion]:
    """The current `directive.source` resources whose parameter refers to one of the frontier's resources."""
    param = parameters(directive.source)[directive.code]
    keys = list(dict.fromkeys(f"{v.type}/{v.id}" for v in frontier
                              if v.type in param.targets and directive.target in (None, v.type)))
    if not keys or directive.source not in RESOURCES:
        return []
    versions, _ = store.search_page(directive.source, {f"r:{directive.code}": {"$in": keys}, "deleted": False},
                                    [], 0, limit, False, reader=reader)
    return versions
