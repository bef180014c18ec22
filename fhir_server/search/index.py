"""Search values computed from a resource on write and stored beside it as top-level fields.

FerretDB v1 evaluates only top-level equality in SQLite; nested matches ($elemMatch on fields, for one)
are slower or unsupported, so each searchable value is flattened to a string token here.
"""
from __future__ import annotations


def identifier_tokens(resource: dict) -> list[str]:
    """`system|value`, `value` and `system|` for each identifier (`|value` when it has no system)."""
    tokens: list[str] = []
    for identifier in resource.get("identifier") or []:
        if not isinstance(identifier, dict):
            continue
        system, value = identifier.get("system"), identifier.get("value")
        if value:
            tokens += [f"{system or ''}|{value}", value]
        if system:
            tokens.append(f"{system}|")
    return sorted(set(tokens))


def index_fields(resource: dict) -> dict[str, list[str]]:
    return {"ix_identifier": identifier_tokens(resource)}
