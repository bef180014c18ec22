"""What a writer saw last of each key (a chain's tail, a posting list's last entry), trusted for a few seconds.

Bounded: at most `kept` keys, the least recently used forgotten first. Thread-safe. What it holds is only ever a
guess that the writer checks by writing (a position another writer took is refused), so forgetting costs a read,
never a wrong answer.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

Value = TypeVar("Value")


class Recent(Generic[Value]):
    def __init__(self, seconds: float, kept: int) -> None:
        self.seconds, self.kept = seconds, kept
        self._values: OrderedDict[str, tuple[Value, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Value | None:
        """The value put under `key` less than `seconds` ago, else None."""
        with self._lock:
            known = self._values.get(key)
            if known is None or time.monotonic() - known[1] >= self.seconds:
                return None
            self._values.move_to_end(key)
            return known[0]

    def put(self, key: str, value: Value) -> None:
        with self._lock:
            self._values[key] = (value, time.monotonic())
            self._values.move_to_end(key)
            while len(self._values) > self.kept:
                self._values.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)
