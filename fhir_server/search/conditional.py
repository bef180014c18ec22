"""Criteria of conditional interactions (If-None-Exist), parsed into a store query.

Supports `_id` and `identifier` (token: `system|value`, `|value` for no system, `system|`, or `value`);
anything else is refused with a 400 rather than ignored, since ignoring a criterion could match the
wrong resource. Values only ever become string equality tests, never database operators.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from ..errors import BadRequest

SUPPORTED = ("_id", "identifier")


def parse_criteria(query_string: str) -> dict:
    """A store query for `query_string` (e.g. "identifier=urn:oid:1.2|123")."""
    try:
        pairs = parse_qsl(query_string.lstrip("?"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise BadRequest(f"Conditional criteria '{query_string}' are not a valid query string")
    if not pairs:
        raise BadRequest("Conditional criteria are empty")
    clauses = []
    for name, value in pairs:
        if name not in SUPPORTED:
            raise BadRequest(f"Search parameter '{name}' is not supported in conditional criteria "
                             f"(supported: {', '.join(SUPPORTED)})", code="not-supported")
        if not value:
            raise BadRequest(f"Search parameter '{name}' has no value")
        clauses.append(_clause(name, value))
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _clause(name: str, value: str) -> dict:
    if name == "_id":
        return {"_id": value}
    return {"ix_identifier": value}  # tokens as search/index.py writes them
