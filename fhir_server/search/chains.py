"""Chained parameters and `_has` (FHIR R4 search.html#chaining, #has), resolved without joins.

The inner search runs first, on the other type's current resources, through a `Resolver` the service builds
with `store_resolver(store, reader)`; the outer filter then tests the references or ids it found:
- `subject:Patient.identifier=x`: the ids of the Patients matching `identifier=x` ->
  `{"r:subject": {"$in": ["Patient/<id>", ...]}}` (each target type in turn when no `:Type` is given);
- `_has:DocumentReference:subject:type=x` on Patient: the `r:subject` index values of the DocumentReferences
  matching `type=x` that name a `Patient/<id>` -> `{"_id": {"$in": [<id>, ...]}}`.
An inner search matching more than `MAX_LINKED` resources is refused (too-costly) rather than run unbounded.
Security: the inner filters come from filters.py like any other; the ids and references found are plain values.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from fhir_server.storage.readers import Reader

from fhir_server.errors import BadRequest
from fhir_server.search.query import AnyCriterion, ChainCriterion, HasCriterion

MAX_LINKED = 1000
ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

# (resource type, filter, field) -> ids of the matching current resources (field None), or the values of
# their index field `field` (e.g. "r:subject").
Resolver = Callable[[str, dict, "str | None"], list]


class PageSource(Protocol):
    """What a resolver needs of the store (storage.resources.ResourceStore)."""

    def search_page(self, resource_type: str, query: dict, sort: list[tuple[str, int]], offset: int,
                    count: int, with_total: bool, *, reader: Reader) -> tuple[list, int | None]: ...


def too_broad(what: str) -> BadRequest:
    return BadRequest(f"Search parameter '{what}': chain too broad (more than {MAX_LINKED} linked resources); "
                      f"narrow the inner criteria", code="too-costly")


def store_resolver(store: PageSource, reader: Reader, limit: int = MAX_LINKED) -> Resolver:
    """The resolver of a search service: one bounded page of the other type's current resources that the
    `reader` may see (the caller's rules: an inner search never finds what the caller may not see)."""
    def resolve(resource_type: str, query: dict, field: str | None) -> list:
        versions, _ = store.search_page(resource_type, query, [], 0, limit + 1, with_total=False, reader=reader)
        if len(versions) > limit:
            raise too_broad(resource_type)
        if field is None:
            return [v.id for v in versions]
        return [value for v in versions for value in v.index.get(field, [])]  # as stored (with its record)
    return resolve


def linked_types(criterion: AnyCriterion) -> set[str]:
    """The other types a criterion searches (chained targets, `_has` sources), at every depth."""
    if isinstance(criterion, ChainCriterion):
        return {t for target, inner in criterion.targets for t in {target, *linked_types(inner)}}
    if isinstance(criterion, HasCriterion):
        return {criterion.source_type, *linked_types(criterion.inner)}
    return set()


def linked_filter(criterion: ChainCriterion | HasCriterion, inner_filter: Callable[[AnyCriterion], dict],
                  resolve: Resolver | None) -> dict:
    """The outer filter of a chained or `_has` criterion; `inner_filter` builds a criterion's full filter on
    its own type (not deleted included)."""
    if resolve is None:
        raise BadRequest(f"Search parameter '{criterion.name()}': chaining is not available here")
    if isinstance(criterion, ChainCriterion):
        return _chain_filter(criterion, inner_filter, resolve)
    return _has_filter(criterion, inner_filter, resolve)


def _chain_filter(criterion: ChainCriterion, inner_filter: Callable[[AnyCriterion], dict],
                  resolve: Resolver) -> dict:
    references: list[str] = []
    for target, inner in criterion.targets:
        references += [f"{target}/{i}" for i in resolve(target, inner_filter(inner), None)]
    references = list(dict.fromkeys(references))
    if len(references) > MAX_LINKED:
        raise too_broad(criterion.name())
    return {f"r:{criterion.code}": {"$in": references}}


def _has_filter(criterion: HasCriterion, inner_filter: Callable[[AnyCriterion], dict], resolve: Resolver) -> dict:
    prefix = f"{criterion.target_type}/"
    values = resolve(criterion.source_type, inner_filter(criterion.inner), f"r:{criterion.reference_code}")
    ids = list(dict.fromkeys(v[len(prefix):] for v in values
                             if isinstance(v, str) and v.startswith(prefix) and ID.fullmatch(v[len(prefix):])))
    if len(ids) > MAX_LINKED:
        raise too_broad(criterion.name())
    return {"_id": {"$in": ids}}
