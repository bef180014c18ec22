"""Delivering the due notifications: once (`send_due`), or every so often in a background thread."""
from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from ..storage.notification_queue import PENDING, Notifications
from .smtp import SmtpSettings, build_message, send

log = logging.getLogger(__name__)


def send_due(notifications: Notifications, smtp: SmtpSettings, address_of: Callable[[str], str | None],
             now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """Delivers up to `limit` due notifications; `address_of` gives a Patient id's e-mail address or None.
    `now` (tests) fixes the clock; otherwise each claim is timed when it is taken. Returns the counts of
    notifications sent, retried (to be tried again later), failed (given up) and no_address."""
    counts = {"sent": 0, "retried": 0, "failed": 0, "no_address": 0}
    for candidate in notifications.due(now or datetime.now(timezone.utc), limit):
        at = now or datetime.now(timezone.utc)
        notification = notifications.claim(candidate, at)
        if notification is None:
            continue
        address = address_of(notification["patient"])
        if not address:
            notifications.no_address(notification)
            counts["no_address"] += 1
            continue
        try:
            send(smtp, build_message(notification["kind"], notification["at"], smtp.sender, address))
        except (smtplib.SMTPException, OSError) as e:
            status = notifications.attempt_failed(notification, f"{type(e).__name__}: {e}"[:500], at)
            counts["retried" if status == PENDING else "failed"] += 1
        else:
            notifications.delivered(notification)
            counts["sent"] += 1
    return counts


class DeliveryThread(threading.Thread):
    """Calls `send_due` every `interval` seconds until `stop()`; an error is logged and the next round runs."""

    def __init__(self, notifications: Notifications, smtp: SmtpSettings,
                 address_of: Callable[[str], str | None], interval: float = 30.0) -> None:
        super().__init__(name="notification-delivery", daemon=True)
        self.notifications, self.smtp, self.address_of, self.interval = notifications, smtp, address_of, interval
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                counts = send_due(self.notifications, self.smtp, self.address_of)
                if any(counts.values()):
                    log.info("notifications: %s", counts)
            except Exception:  # the database is down, say: the notifications wait for the next round
                log.exception("notification delivery failed")
            self._stopping.wait(self.interval)

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        self.join(timeout)


def patient_email(patient: dict, now: datetime | None = None) -> str | None:
    """The address to notify, from a Patient's `telecom`: an `email` contact point in use (not `old`, its
    `period` not ended), `home` ones first, then by `rank` (lowest first, none last)."""
    now = now or datetime.now(timezone.utc)
    usable = [(point.get("use") != "home", point.get("rank", float("inf")), index, point["value"])
              for index, point in enumerate(patient.get("telecom", []))
              if point.get("system") == "email" and point.get("value") and point.get("use") != "old"
              and not _ended(point.get("period", {}).get("end"), now)]
    return min(usable)[3] if usable else None


def _ended(end: str | None, now: datetime) -> bool:
    """Whether a FHIR date or dateTime `end` (a year, a month, a day or an instant) is past at `now`."""
    if end is None:
        return False
    if "T" not in end:  # the period lasts to the end of that year, month or day
        return now.strftime("%Y-%m-%d")[:len(end)] > end
    instant = datetime.fromisoformat(end)
    return (instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)) < now
