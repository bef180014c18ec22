"""Several reads by `_id` sent at once.

FerretDB v1 answers only a lone `{_id: <string>}` filter from SQLite's index (a `$in` scans the collection),
so a request that must read many documents by id (a search's candidates and their records, the chains and
posting lists of the patients an audit group names) sends one command per document. Sent one after the
other, each waits for the previous; sent together over several connections, FerretDB works on them on every
core: `each` runs them `WIDTH` at a time on a pool of this process (made again after a fork, so that a
gunicorn worker never inherits its parent's). Only reads go through it, never a write whose order matters.
A read started from one of the pool's own threads runs there and then (a nested `each` never waits for a
thread of the pool it occupies).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

WIDTH = 16
_T = TypeVar("_T")
_R = TypeVar("_R")
_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None
_inside = threading.local()


def each(read: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """`[read(item) for item in items]`, up to WIDTH at a time; results in the items' order, and the first
    item's error raised if any failed."""
    if len(items) < 2 or getattr(_inside, "pool", False):
        return [read(item) for item in items]
    return list(_executor().map(_marked(read), items))


def _marked(read: Callable[[_T], _R]) -> Callable[[_T], _R]:
    def run(item: _T) -> _R:
        _inside.pool = True
        return read(item)
    return run


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(WIDTH, thread_name_prefix="parallel-reads"))
        return _pool[1]
