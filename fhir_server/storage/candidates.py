"""Searching without a scan on FerretDB: candidates from `_id` or posting lists, each tested by `_id`.

A search filter (search/filters.py) is an `$and` of criteria (or, from includes, a document of several). When one of them is an `_id` equality or `$in`,
or a criterion posting lists cover (storage/postings.py), its ids are a superset of the matches, and so is
the intersection of those of every such criterion (the criteria are ANDed). Each candidate is then tested
with the whole filter in an aggregation whose first stage is `{_id: <id>}`, the one filter FerretDB hands to
SQLite's index, so the database still decides what matches. The matches
are ordered here as MongoDB orders them: by each sort field ascending (an array by its smallest element,
a missing field first) or descending (an array by its largest element, a missing field last), then `_id`.
"""
from __future__ import annotations

from functools import cmp_to_key

from pymongo.collection import Collection

from .lookup_keys import range_keys
from .parallel import each
from .postings import Postings, criterion_keys

MAX_CANDIDATES = 5_000


def candidate_ids(postings: Postings, resource_type: str, query: dict) -> list[str] | None:
    """A superset of the ids matching `query`, at most MAX_CANDIDATES of them: the ids every covered criterion
    allows, in the order of the first; None when no criterion gives one or too many remain (the query must
    scan). The lists of every criterion are read together."""
    plans = [_plan(resource_type, criterion) for criterion in _criteria(query)]
    lists = postings.members_of([key for kind, keys in plans if kind == "lists" for key in keys or ()])
    found: list[str] | None = None
    for kind, values in plans:
        ids = values if kind == "ids" else _union(values, lists)
        if ids is not None:
            allowed = set(ids)
            found = ids if found is None else [i for i in found if i in allowed]
            if not found:
                break
    return found if found is not None and len(found) <= MAX_CANDIDATES else None


def _criteria(query: dict) -> list[dict]:
    return [{k: v} for k, v in query.items() if k != "$and"] + [c for c in query.get("$and", [])
                                                                  if isinstance(c, dict)]


def _plan(resource_type: str, criterion: dict) -> tuple[str, list[str] | None]:
    """("ids", the ids an `_id` criterion names) or ("lists", the keys of the lists whose union covers the
    criterion); None in place of the list when neither applies."""
    if len(criterion) != 1:  # several fields: a date range
        return "lists", range_keys(resource_type, criterion)
    field, condition = next(iter(criterion.items()))
    if field == "_id":
        return "ids", _ids(condition)
    return "lists", criterion_keys(resource_type, field, condition)


def single_criteria(query: dict) -> list[tuple[str, object]]:
    """The (field, condition) criteria of a search filter that test one field each, top-level or in its `$and`."""
    return [next(iter(c.items())) for c in _criteria(query) if len(c) == 1]


def _ids(condition: object) -> list[str] | None:
    if isinstance(condition, str):
        return [condition]
    if isinstance(condition, dict) and list(condition) == ["$in"] and isinstance(condition["$in"], list):
        return [v for v in dict.fromkeys(condition["$in"]) if isinstance(v, str)]
    return None


def _union(keys: list[str] | None, lists: dict[str, list[str] | None]) -> list[str] | None:
    """The ids in these lists (as read); None without keys (no list covers the criterion) or when one
    overflowed."""
    if keys is None:
        return None
    ids: dict[str, None] = {}
    for key in keys:
        members = lists[key]
        if members is None:
            return None
        ids.update(dict.fromkeys(members))
    return list(ids)


def matching_docs(collection: Collection, candidates: list[str], query: dict, fields: list[str] | None) -> list[dict]:
    """The candidates matching `query`, each with `_id` and `fields` only (None: whole)."""
    stages = [{"$project": {"_id": 1, **{f: 1 for f in fields}}}] if fields is not None else []
    return [doc for docs in each(lambda candidate: list(collection.aggregate(
        [{"$match": {"_id": candidate}}, {"$match": query}, *stages])), candidates) for doc in docs]


def sort_docs(docs: list[dict], sort: list[tuple[str, int]]) -> list[dict]:
    """`docs` in MongoDB's order for `sort` (fields with 1 or -1), `_id` ascending last unless given."""
    order = sort if sort and sort[-1][0] == "_id" else [*sort, ("_id", 1)]

    def compare(a: dict, b: dict) -> int:
        for field, direction in order:
            x, y = _sort_value(a.get(field), direction), _sort_value(b.get(field), direction)
            if x != y:
                return (-1 if x < y else 1) * direction
        return 0
    return sorted(docs, key=cmp_to_key(compare))


def _sort_value(value: object, direction: int) -> tuple:
    """Missing < present; an array stands for its smallest (ascending) or largest (descending) element. Each
    index field holds one type (strings, or numbers), so present values compare among themselves."""
    if isinstance(value, list):
        if not value:
            return (0,)
        value = min(value) if direction == 1 else max(value)
    return (0,) if value is None else (1, value)
