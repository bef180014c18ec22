"""A reader's search conditions tested on documents in hand, as MongoDB tests a query.

A search among a few candidates reads them whole (storage/candidates.py) with its own criteria, tested by the
database; the records they are in then decide the reader's conditions (storage/readers.py), which are tested
here on those documents instead of by reading each again. Only the forms the conditions take are known
here: `$and`, `$or`, and on a top-level field a string, `$in` / `$nin` of strings, `$ne` of a string or
`$exists`, on a field that is missing or holds a string or a list of strings. Anything else raises
`Unsupported` and the store asks the database instead: this never guesses.
"""
from __future__ import annotations


class Unsupported(ValueError):
    """A query or a document this matcher does not decide: ask the database."""


def meets(doc: dict, query: dict) -> bool:
    """Whether `doc` meets `query` (a MongoDB filter), as MongoDB would decide."""
    if not isinstance(query, dict):
        raise Unsupported(f"not a filter: {query!r}")
    for key, condition in query.items():
        if key in ("$and", "$or"):
            if not isinstance(condition, list) or not condition:
                raise Unsupported(f"{key} needs a non-empty list")
            met = (all if key == "$and" else any)(meets(doc, part) for part in condition)
        elif key.startswith("$") or "." in key:
            raise Unsupported(f"operator or path {key!r}")
        else:
            met = _field_meets(doc, key, condition)
        if not met:
            return False
    return True


def _field_meets(doc: dict, field: str, condition: object) -> bool:
    present = field in doc
    value = doc.get(field)
    if isinstance(value, list):
        values = value
    else:
        values = [value] if present else []
    if not all(isinstance(v, str) for v in values):
        raise Unsupported(f"field {field!r} holds {value!r}")
    if isinstance(condition, str):
        return condition in values
    if not isinstance(condition, dict) or not condition:
        raise Unsupported(f"condition {condition!r}")
    return all(_operator_meets(present, values, operator, argument) for operator, argument in condition.items())


def _operator_meets(present: bool, values: list[str], operator: str, argument: object) -> bool:
    if operator == "$exists" and isinstance(argument, bool):
        return present == argument
    if operator == "$ne" and isinstance(argument, str):
        return argument not in values
    if operator in ("$in", "$nin") and isinstance(argument, list) and all(isinstance(a, str) for a in argument):
        hit = not set(values).isdisjoint(argument)
        return hit if operator == "$in" else not hit
    raise Unsupported(f"operator {operator!r} with {argument!r}")
