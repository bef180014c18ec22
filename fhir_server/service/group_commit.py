"""Group commit: the writes many request threads submit at the same time are committed together, each thread
returning only once its own write is done (or raising what the commit raised).

No thread of its own (nothing to start, stop, or lose across a fork): the first submitter finding no commit
under way becomes the leader and commits everything queued so far, its own write included; the others wait.
When the leader is done, a thread still waiting becomes the next leader and commits what queued meanwhile. So a
lone request commits at once, and under load each commit carries the writes that arrived while the previous
one ran.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Job(Generic[Item]):
    item: Item
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """`commit(items)` returns one result per item, in order; it runs on one thread at a time."""

    def __init__(self, commit: Callable[[list[Item]], list[Result]], max_batch: int = 256) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._queue: list[_Job[Item]] = []
        self._committing = False
        self._changed = threading.Condition()

    def submit(self, item: Item) -> Result:
        """Commits `item` with whatever else is queued; returns its result once its batch is committed."""
        return self.submit_all([item])[0]

    def submit_all(self, items: list[Item]) -> list[Result]:
        """Commits `items` (one request's writes: queued together, so in one batch unless it is full) with
        whatever else is queued; returns their results once all are committed, or raises the first error."""
        jobs = [_Job(item) for item in items]
        with self._changed:
            self._queue += jobs
            while not all(job.done for job in jobs):
                if self._committing:
                    self._changed.wait()
                    continue
                batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
                self._committing = True
                self._changed.release()
                try:
                    self._run(batch)
                finally:
                    self._changed.acquire()
                    self._committing = False
                    self._changed.notify_all()
        for job in jobs:
            if job.error is not None:
                raise job.error
        return [job.result for job in jobs]

    def _run(self, batch: list[_Job[Item]]) -> None:
        try:
            results = list(zip(batch, self._commit([job.item for job in batch]), strict=True))
        except BaseException as error:  # every write of the batch failed with it
            for job in batch:
                job.error, job.done = error, True
            return
        for job, result in results:
            job.result, job.done = result, True
