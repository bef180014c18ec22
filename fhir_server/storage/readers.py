"""Whose rules a read of stored resources runs under.

The store answers no read of resources without a `Reader` (fail closed): the caller's rules
(access/policy.py `RecordAccess`, a request's or a job's system principal), or a `ServerLookup` naming one of
the server's own decisions that shows nobody what it reads (who signs in, the inputs of the rules themselves).
A read without one is a programming error (`NoReader`), never a read without rules.

What the store does with it (storage/resources.py):
- reads of versions (`current`, `version`, `current_versions`, `history_page`) return only those
  `reader.visible(version)` allows: what the reader may not see is answered as what does not exist;
- searches (`search_ids`, `search_page`, `search_with_page`) AND `reader.search_conditions(type, query,
  records)` with the query: what the reader may not see is neither matched nor counted. `records`, when given,
  reads every record a match can belong to (those of the search's candidates, storage/candidates.py, or on
  MongoDB those of its matches when they are few), so that the conditions may judge those records only.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .resources import StoredVersion

# Every record (Patient id) a search's matches can be in, read when called; None: too many matches to tell (the
# rules then judge every record instead).
RecordsOf = Callable[[], "list[str] | None"]


@runtime_checkable
class Reader(Protocol):
    def visible(self, version: StoredVersion) -> bool: ...

    def search_conditions(self, resource_type: str, query: dict,
                          records: RecordsOf | None = None) -> list[dict]: ...


class NoReader(TypeError):
    """A read of stored resources named no reader: a programming error."""


@dataclass(frozen=True)
class ServerLookup:
    """One of the server's own reads whose result is shown to no caller, named for what it decides."""
    purpose: str

    def visible(self, version: StoredVersion) -> bool:
        return True

    def search_conditions(self, resource_type: str, query: dict,
                          records: RecordsOf | None = None) -> list[dict]:
        return []


def checked(reader: object) -> Reader:
    if not isinstance(reader, Reader):
        raise NoReader(f"A read of stored resources needs the reader's rules, not {reader!r}")
    return reader


def restricted(reader: Reader, resource_type: str, query: dict, records: RecordsOf | None = None) -> dict:
    """The query with the reader's conditions ANDed in (`records`: see the module docstring)."""
    return with_conditions(query, checked(reader).search_conditions(resource_type, query, records))


def with_conditions(query: dict, conditions: list[dict]) -> dict:
    """The query with these conditions ANDed in."""
    return {**query, "$and": [*query.get("$and", []), *conditions]} if conditions else query
