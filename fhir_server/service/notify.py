"""E-mail delivery of patients' notifications (notifications/) from a server worker or the CLI."""
from __future__ import annotations

from ..storage.notification_queue import Notifications
from ..notifications.sender import DeliveryThread, patient_email, send_due
from ..notifications.smtp import SmtpSettings
from ..storage.readers import ServerLookup
from ..storage.resources import ResourceStore

DELIVERY = ServerLookup("notification delivery")  # a patient's own address, for their e-mail


def address_finder(store: ResourceStore):
    """Patient id -> their e-mail address, from their Patient resource (None without one)."""
    def address_of(patient_id: str) -> str | None:
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
