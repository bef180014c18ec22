"""Removing finished writes' journal entries (storage/resources.py) off the request's path, several at a time.

A write's journal entry only says "this resource may need projecting": once the write is done, removing it is
housekeeping. So each finished entry is queued, and a thread of this process, started when there is something
to remove and ending when there is nothing left, removes what was queued in one command every
`DELAY_SECONDS`. An entry left behind (the process died first, or the database did not answer) costs
`recover()` one projection that changes nothing at the next start.
"""
from __future__ import annotations

import logging
import threading
import time

from pymongo.collection import Collection
from pymongo.errors import PyMongoError

DELAY_SECONDS = 0.2
log = logging.getLogger(__name__)


class FinishedEntries:
    def __init__(self, journal: Collection) -> None:
        self.journal = journal
        self._queued: list[object] = []
        self._lock = threading.Lock()
        self._removing = False

    def finished(self, entry_id: object) -> None:
        """Queues the entry of a write that is done (its new version is current)."""
        with self._lock:
            self._queued.append(entry_id)
            if not self._removing:
                self._removing = True
                threading.Thread(target=self._remove, name="journal-cleanup", daemon=True).start()

    def _remove(self) -> None:
        while True:
            time.sleep(DELAY_SECONDS)
            with self._lock:
                entries, self._queued = self._queued, []
                if not entries:
                    self._removing = False
                    return
            try:
                self.journal.delete_many({"_id": {"$in": entries}})
            except PyMongoError as error:  # left for recover(): harmless
                log.warning("%d finished journal entries not removed: %s", len(entries), error)
