"""Patients' notifications: what is queued (as each patient chose), and its e-mail delivery (notifications/)
from a server worker or the CLI."""
from __future__ import annotations

import re
from datetime import datetime

from ..access.policy import RecordAccess
from ..errors import Forbidden, Unprocessable

from ..storage.notification_queue import Notifications
from ..storage.notification_settings import OPTIONAL, NotificationSettings
from ..notifications.sender import DeliveryThread, patient_email, send_due
from ..notifications.smtp import SmtpSettings
from ..storage.readers import ServerLookup
from ..storage.resources import ResourceStore

DELIVERY = ServerLookup("notification delivery")  # a patient's own address, for their e-mail
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}")
_KNOWN_MAX = 100_000  # (patient, professional) pairs a process remembers as noticed already


class Notifier:
    """The `notify(patient id, kind, time, key)` the access rules call (access/policy.py): queues the notice
    unless the patient turned that kind off (`document-changed`, `consultation`; emergency access and the
    record's creation are always told). A `consultation` (its key: the professional's IDNPS) is told the first
    time that professional consults the record only."""

    def __init__(self, queue: Notifications, settings: NotificationSettings) -> None:
        self.queue, self.settings = queue, settings
        self._noticed: set[tuple[str, str]] = set()  # consultations marked already: no database round trip

    def __call__(self, patient_id: str, kind: str, at: datetime, key: str | None = None) -> None:
        if kind == "consultation":
            pair = (patient_id, str(key))
            if pair in self._noticed:
                return
            first = self.settings.first_consultation(patient_id, str(key), at)
            if len(self._noticed) < _KNOWN_MAX:
                self._noticed.add(pair)
            if not first:
                return
        if self.settings.wants(patient_id, kind):
            self.queue.enqueue(patient_id, kind, at, key)


class NoticeChoices:
    """What a patient chose to be told, and where: the record's owner (or their representative) decides, under
    their rules (access/policy.py), as for any decision on their record."""

    def __init__(self, settings: NotificationSettings) -> None:
        self.settings = settings

    def read(self, rules: RecordAccess, patient_id: str) -> dict:
        """{"email": ..., "document-changed": bool, "consultation": bool}."""
        _owner(rules, patient_id)
        stored = self.settings.get(patient_id)
        return {"email": stored.get("email", ""), **{kind: stored.get(kind, True) is not False for kind in OPTIONAL}}

    def choose(self, rules: RecordAccess, patient_id: str, choices: dict[str, bool]) -> None:
        _owner(rules, patient_id)
        self.settings.choose(patient_id, choices)

    def set_email(self, rules: RecordAccess, patient_id: str, email: str) -> None:
        _owner(rules, patient_id)
        if email and not EMAIL.fullmatch(email):
            raise Unprocessable("Not an e-mail address", code="value")
        self.settings.set_email(patient_id, email or None)


def _owner(rules: RecordAccess, patient_id: str) -> None:
    """Refuses anyone but the record's owner or representative (whose rules name that record)."""
    actor = rules.actor
    if actor is None or actor.kind not in ("patient", "representative") or actor.patient != patient_id:
        raise Forbidden("Only the record's owner (or their legal representative) chooses their notifications")
    rules.patients[patient_id] = None
    rules.touched[f"Patient/{patient_id}"] = [patient_id]


def notifier(db) -> Notifier:
    """The notify function of the server's services and commands, on database `db`."""
    return Notifier(Notifications(db), NotificationSettings(db))


def address_finder(store: ResourceStore):
    """Patient id -> their e-mail address: the one they chose for notices, else their Patient's `telecom`."""
    settings = NotificationSettings(store.db)

    def address_of(patient_id: str) -> str | None:
        chosen = settings.get(patient_id).get("email")
        if chosen:
            return chosen
        patient = store.current("Patient", patient_id, reader=DELIVERY)
        return patient_email(patient.resource) if patient is not None and patient.resource else None
    return address_of


def start_delivery(store: ResourceStore, notifications: Notifications, interval: float) -> DeliveryThread | None:
    """A delivery thread for this worker when FHIR_SMTP_HOST is set (each gunicorn worker makes its app after
    the fork, so the thread runs in the worker)."""
    smtp = SmtpSettings.from_env()
    if not smtp.enabled:
        return None
    thread = DeliveryThread(notifications, smtp, address_finder(store), interval)
    thread.start()
    return thread


def deliver_now(store: ResourceStore) -> dict[str, int]:
    """One round of delivery (`fhir-server notifications send`)."""
    return send_due(Notifications(store.db), SmtpSettings.from_env(), address_finder(store))
