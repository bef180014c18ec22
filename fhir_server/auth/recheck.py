"""What a token's check reads from the database beyond the token itself: is it revoked, is its client still
referenced. Either read on every check (`ReadEachTime`: introspection, and every check when
FHIR_TOKEN_RECHECK_SECONDS is 0), or kept in the process for at most N seconds (`ReadEveryNSeconds`), so that a
request's token check sends nothing to the database.

`ReadEveryNSeconds` holds one snapshot: the ids of the revoked tokens not yet expired, and the status of each
client this process has checked a token of, as read at one moment. A check uses the snapshot while it is
younger than N seconds, else reads both again first (two reads for every token and client, once per N
seconds, by whichever thread comes first while the others wait). The moment is taken before the reads are
sent, so a suspension, withdrawal or revocation written anywhere (another worker, `fhir-server clients`)
is seen by every check made more than N seconds after it. A revocation made in this process (`/oauth/revoke`)
is added to the snapshot at once. Memory stays bounded: the revoked ids are those of tokens that have not
expired (tokens live 5 minutes), the statuses those of registered clients.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..storage.auth import ClientStore, Revocations

REFERENCED = "referenced"


class ReadEachTime:
    """Reads the revocation and the client's status on every check: exact, two reads per check."""

    def __init__(self, clients: ClientStore, revocations: Revocations) -> None:
        self.clients, self.revocations = clients, revocations

    def is_revoked(self, token_id: str) -> bool:
        return self.revocations.is_revoked(token_id)

    def is_referenced(self, client_id: str) -> bool:
        return self.clients.status(client_id) == REFERENCED

    def revoked_here(self, token_id: str) -> None:
        pass  # the next check reads it


@dataclass(frozen=True)  # pragma: no mutate (never changed in place: `replace` makes the next snapshot)
class _Snapshot:
    read_at: float  # the clock before the reads were sent
    revoked: frozenset[str] = frozenset()
    statuses: dict[str, str | None] = field(default_factory=dict)  # None: no such client; never changed in place


class ReadEveryNSeconds:
    """Revocations and clients' statuses as read at most `seconds` ago (see the module docstring)."""

    def __init__(self, clients: ClientStore, revocations: Revocations, seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clients, self.revocations, self.seconds, self.clock = clients, revocations, seconds, clock
        self._lock = threading.Lock()
        self._snapshot = _Snapshot(read_at=float("-inf"))

    def is_revoked(self, token_id: str) -> bool:
        return token_id in self._current().revoked

    def is_referenced(self, client_id: str) -> bool:
        statuses = self._current().statuses
        if client_id not in statuses:  # a client this process has not seen yet: read now, kept from then on
            with self._lock:
                status = self.clients.status(client_id)
                self._snapshot = replace(self._snapshot, statuses={**self._snapshot.statuses, client_id: status})
            return status == REFERENCED
        return statuses[client_id] == REFERENCED

    def revoked_here(self, token_id: str) -> None:
        """A revocation this process has just written: refused from now on, without waiting for a read."""
        with self._lock:
            self._snapshot = replace(self._snapshot, revoked=self._snapshot.revoked | {token_id})

    def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if self.clock() - snapshot.read_at < self.seconds:
            return snapshot
        with self._lock:
            if self.clock() - self._snapshot.read_at >= self.seconds:  # unless another thread has just read
                read_at = self.clock()
                known = list(self._snapshot.statuses)
                statuses = self.clients.statuses(known) if known else {}
                self._snapshot = _Snapshot(read_at, frozenset(self.revocations.unexpired()),
                                           {client_id: statuses.get(client_id) for client_id in known})
            return self._snapshot
