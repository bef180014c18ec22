"""Access to patients' records: the rules (policy.py) and the request's `RecordAccess`.

The HTTP layer sets the caller's `RecordAccess` for each request (`use`); the service layer asks `current()`
about everything it reads or writes, so no endpoint filters on its own. Outside a request (the server's own
jobs, the CLI) there is no caller to restrict.
"""
from __future__ import annotations

from contextvars import ContextVar, Token

from .policy import RecordAccess

_current: ContextVar[RecordAccess | None] = ContextVar("record_access", default=None)


def current() -> RecordAccess | None:
    """The request's access rules; None outside a request (no caller to restrict)."""
    return _current.get()


def use(access: RecordAccess | None) -> Token:
    return _current.set(access)


def done(token: Token) -> None:
    _current.reset(token)
