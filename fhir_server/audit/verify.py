"""`fhir-server audit verify`: each chain recomputed from the stored events and held to its checkpoints.

Broken (exit 1), at the first broken link of each chain: a changed event, an edited or removed link, a
removed event that a checkpoint confirms was stored, a link recomputed without the key after keyed ones, a
hash other than its checkpoint's, a chain shorter than its checkpoints (its tail removed and its head
lowered), a checkpoint line whose MAC fails. Not broken, but listed:
- `pending`: an event not stored yet, by a writer still within PENDING_GRACE of chaining it;
- `unfinished`: a keyed link older than that whose event no checkpoint confirms: its writer stopped (a crash,
  `kill -9`) between chaining the event and storing it. The event was never stored, so nothing was removed;
- `legacy`: links written before the key existed (plain SHA-256), accepted at the start of a chain only:
  anyone able to write to the database could have recomputed them; checkpoints made since pin them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .chain import GENESIS, AuditChain, carried, checked_key, digest, legacy_digest

PENDING_GRACE = timedelta(seconds=60)  # how long a writer may take to store the event it chained
REASONS = {
    "gap": "link missing (sequence gap)",
    "previous": "previous-hash mismatch",
    "missing": "event missing",
    "changed": "event content changed",
    "hash": "link hash altered",
    "extension": "event's chain extension differs from its link",
    "unkeyed": "link hash recomputed without the key",
    "checkpoint": "link hash differs from its checkpoint",
    "truncated": "chain shorter than its checkpoints (its last links removed)",
    "pending": "event not stored yet",
    "unfinished": "unfinished: the server stopped before storing the event (never stored, not removed)",
}
_SHOWN_REJECTED = 10


@dataclass(frozen=True)
class Problem:
    key: str
    sequence: int
    event_id: str | None
    reason: str  # a key of REASONS

    def __str__(self) -> str:
        event = f" AuditEvent/{self.event_id}" if self.event_id else ""
        return f"chain {self.key} #{self.sequence}{event}: {REASONS[self.reason]}"


@dataclass
class Report:
    chains: int = 0
    events: int = 0
    legacy: int = 0            # links without the key, at the start of their chain
    checkpoints: int = 0       # checkpoint lines read
    broken: list[Problem] = field(default_factory=list)      # the first broken link of each broken chain
    pending: list[Problem] = field(default_factory=list)     # links whose event may still be being stored
    unfinished: list[Problem] = field(default_factory=list)  # links whose writer stopped before storing
    rejected: list[str] = field(default_factory=list)        # checkpoint lines (`file:line`) whose MAC fails

    @property
    def intact(self) -> bool:
        return not self.broken and not self.rejected


def verify(chain: AuditChain, read_event: Callable[[str], dict | None], key: str | None = None,
           grace: timedelta = PENDING_GRACE) -> Report:
    """Recomputes each chain (or chain `key`) from the stored events, `read_event(id)` reading one, and holds
    it to its checkpoints (a chain known to the checkpoints only, all its links removed, is checked too)."""
    seen = chain.checkpoints.read(key)
    report = Report(checkpoints=seen.lines, rejected=seen.rejected)
    keys = [checked_key(key)] if key is not None else sorted(set(chain.links.keys()) | set(seen.chains))
    young = datetime.now(timezone.utc) - grace
    for chain_key in keys:
        _verify_chain(chain, chain_key, read_event, young, seen.chains.get(chain_key, {}), report)
    return report


def _verify_chain(chain: AuditChain, key: str, read_event: Callable[[str], dict | None], young: datetime,
                  confirmed: dict[int, str], report: Report) -> None:
    last = chain.hint(key)
    previous, n, keyed = GENESIS, 0, False
    while True:
        link = chain.link(key, n + 1)
        if link is None:
            if n < last:  # removed links, in the middle or at the end
                report.broken.append(Problem(key, n + 1, None, "gap"))
            elif n < max(confirmed, default=0):  # removed links at the end, and the head lowered
                report.broken.append(Problem(key, n + 1, None, "truncated"))
            break
        n += 1
        report.events += 1
        reason, legacy = _check(chain, link, previous, read_event, keyed)
        if reason is None and n in confirmed and confirmed[n] != link["hash"]:
            reason = "checkpoint"
        if reason == "missing" and n not in confirmed:  # no checkpoint says it was ever stored
            if _aware(link["at"]) > young:
                report.pending.append(Problem(key, n, link["event_id"], "pending"))
                reason = None
            elif link.get("mac"):
                report.unfinished.append(Problem(key, n, link["event_id"], "unfinished"))
                reason = None
        if reason:
            report.broken.append(Problem(key, n, link["event_id"], reason))
            break
        report.legacy += legacy
        keyed = keyed or not legacy
        previous = link["hash"]
    if n or last or confirmed:
        report.chains += 1


def _check(chain: AuditChain, link: dict, previous: str, read_event: Callable[[str], dict | None],
           after_keyed: bool) -> tuple[str | None, bool]:
    """(why this link is broken: a key of REASONS, or None; whether it is a legacy link)."""
    if link["previous"] != previous:
        return "previous", False
    event = read_event(link["event_id"])
    if event is None:
        return "missing", False
    keyed, legacy = digest(chain.key, previous, event), legacy_digest(previous, event)
    found = carried(event)
    if link["hash"] not in (keyed, legacy):
        # The event agrees with what it carried when chained: its link was altered, not the event.
        return ("hash" if found and found[2] in (keyed, legacy) else "changed"), False
    is_legacy = link["hash"] != keyed
    if is_legacy and (after_keyed or link.get("mac")):
        return "unkeyed", False
    if found != (link["n"], link["previous"], link["hash"]):
        return "extension", False
    return None, is_legacy


def _aware(moment: datetime) -> datetime:
    """A stored datetime as UTC (a client without tz_aware reads naive UTC datetimes)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def verify_command(chain: AuditChain, read_event: Callable[[str], dict | None], key: str | None) -> int:
    """`fhir-server audit verify [--patient ID]`: prints one line per broken chain, per rejected checkpoint line
    and per unfinished link, then a summary when all are intact; returns the exit code: 0 intact, 1 broken."""
    report = verify(chain, read_event, key)
    for problem in report.broken:
        print(problem)
    for where in report.rejected[:_SHOWN_REJECTED]:
        print(f"checkpoint {where}: MAC mismatch (the line was altered, or written with another key)")
    if len(report.rejected) > _SHOWN_REJECTED:
        print(f"... {len(report.rejected) - _SHOWN_REJECTED} more checkpoint lines rejected")
    for problem in report.unfinished:
        print(problem)
    if not report.checkpoints:
        print(f"no checkpoints in {chain.checkpoints.folder}: a chain's removed tail cannot be found")
    if report.intact:
        notes = [f"{count} {what}" for count, what in ((len(report.pending), "not stored yet"),
                                                         (len(report.unfinished), "unfinished"),
                                                         (report.legacy, "legacy links without the key")) if count]
        print(f"{report.chains} chains, {report.events} events: intact" + (f" ({', '.join(notes)})" if notes else ""))
    return 0 if report.intact else 1
