"""Access to patients' records: the rules (policy.py) and record membership (membership.py).

Every service call that reads or writes record data takes the caller's rules as an explicit argument: a
request's `RecordAccess` (api/guard.py makes it from the token), or a system principal for the server's own
jobs (`RecordAccess.for_job`: an import, an MLLP push), which names the professionals it pushes for. There is
no ambient default: a service given no rules raises `NoCallerRules` instead of reading without them, and the
store answers no read without a reader (storage/readers.py): it applies the rules itself.
"""
from __future__ import annotations


class NoCallerRules(RuntimeError):
    """A service reached record data with no caller's rules: a programming error, never a free read."""
