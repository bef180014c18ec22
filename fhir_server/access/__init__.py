"""Access to patients' records: the rules (policy.py), record membership (membership.py) and the request's
`RecordAccess`.

The HTTP layer sets the caller's `RecordAccess` for each request (`use`); the server's own jobs (an import,
an MLLP push) set theirs, a system principal that names the professionals it pushes for. The service layer
asks `current()` about everything it reads or writes, so no endpoint filters on its own; where no caller's
rules were set, `current()` raises: no code path reads stored record data without rules.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from .policy import RecordAccess

_current: ContextVar[RecordAccess | None] = ContextVar("record_access", default=None)


class NoCallerRules(RuntimeError):
    """A service reached record data with no caller's rules set: a programming error, never a free read."""


def current() -> RecordAccess:
    """The rules of the caller being served; raises NoCallerRules when none were set."""
    rules = _current.get()
    if rules is None:
        raise NoCallerRules("No caller's access rules are set: use access.use(RecordAccess(...)) first")
    return rules


def active() -> RecordAccess | None:
    """The rules set, if any (for the audit trail, which also records requests refused before any)."""
    return _current.get()


def use(access: RecordAccess) -> Token:
    return _current.set(access)


def done(token: Token) -> None:
    _current.reset(token)


@contextmanager
def acting(rules: RecordAccess) -> Iterator[RecordAccess]:
    """Runs the block under these rules (a job's system principal: `RecordAccess.for_job`)."""
    token = use(rules)
    try:
        yield rules
    finally:
        done(token)
