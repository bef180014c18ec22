"""Notifications on the real database, delivered to a real SMTP server (aiosmtpd) on a free loopback port."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from fhir_server.storage.notification_queue import (FAILED, LEASE, NO_ADDRESS, NOTIFICATIONS, PENDING,
                                                    Notifications, backoff)
from fhir_server.notifications.sender import DeliveryThread, patient_email, send_due
from fhir_server.notifications.smtp import SUBJECT, SmtpSettings
from fhir_server.storage.ferretdb import free_port

T0 = datetime(2026, 11, 24, 10, 32, tzinfo=timezone.utc)
SENDER = "record@health.example.org"
PATIENT = {
    "resourceType": "Patient", "id": "pat-1", "name": [{"family": "Quillfeather", "given": ["Ysolde"]}],
    "telecom": [{"system": "phone", "value": "+33 6 12 34 56 78"},
                {"system": "email", "value": "ysolde@example.org", "use": "home"}],
}
DOCUMENT_TITLE = "Oncology follow-up letter"  # what the professional wrote; never in an e-mail


def together(target, count: int) -> None:
    """Runs `target` in `count` threads at once and waits for them all."""
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Inbox:
    """aiosmtpd handler keeping what it receives: (mail from, recipients, parsed message, authenticated)."""

    def __init__(self) -> None:
        self.received: list[tuple] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message, session.authenticated))
        return "250 OK"


@pytest.fixture()
def notifications(db) -> Notifications:
    db[NOTIFICATIONS].delete_many({})
    return Notifications(db, max_attempts=3)


@pytest.fixture()
def inbox():
    """A running SMTP server: (its settings, its Inbox)."""
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SmtpSettings(host="127.0.0.1", port=controller.port, sender=SENDER), handler
    controller.stop()


def address_of(patient_id: str) -> str | None:
    return patient_email(PATIENT) if patient_id == PATIENT["id"] else None


def test_a_notification_reaches_the_patient_without_health_data(notifications, inbox):
    smtp, handler = inbox
    at = datetime(2026, 11, 24, 11, 32, tzinfo=timezone(timedelta(hours=1)))  # 10:32 UTC
    assert notifications.enqueue("pat-1", "document-changed", at, key="DocumentReference/doc-1/_history/2")

    assert send_due(notifications, smtp, address_of, now=T0) == {"sent": 1, "retried": 0, "failed": 0,
                                                                 "no_address": 0}
    [(mail_from, recipients, message, _)] = handler.received
    assert (mail_from, recipients) == (SENDER, ["ysolde@example.org"])
    assert message["Subject"] == SUBJECT and message["To"] == "ysolde@example.org"
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert ("A health professional added or changed a document in your health record on 24 November 2026 "
            "at 10:32 (UTC).") in body
    assert "Sign in to your health record to see the details." in body
    whole = message.as_string()
    for private in ("Ysolde", "Quillfeather", DOCUMENT_TITLE, "DocumentReference", "doc-1", "pat-1"):
        assert private not in whole
    assert notifications.collection.count_documents({}) == 0  # delivered: deleted


@pytest.mark.parametrize("kind, said", [
    ("record-created", "Your health record was created on 24 November 2026 at 10:32 (UTC)."),
    ("emergency-access", "A health professional used emergency access to open your health record on 24 "
                         "November 2026 at 10:32 (UTC)."),
])
def test_each_kind_says_what_happened(notifications, inbox, kind, said):
    smtp, handler = inbox
    notifications.enqueue("pat-1", kind, T0)
    send_due(notifications, smtp, address_of, now=T0)
    assert said in handler.received[0][2].get_content()


def test_unknown_kind_is_refused(notifications):
    with pytest.raises(ValueError):
        notifications.enqueue("pat-1", "lab-result", T0)


def test_a_key_queues_one_notification_until_it_is_delivered(notifications, inbox):
    smtp, handler = inbox
    assert notifications.enqueue("pat-1", "emergency-access", T0, key="session-7")
    assert not notifications.enqueue("pat-1", "emergency-access", T0 + timedelta(minutes=1), key="session-7")
    assert notifications.enqueue("pat-1", "emergency-access", T0, key="session-8")
    assert notifications.enqueue("pat-1", "document-changed", T0, key="session-7")  # another kind
    assert notifications.enqueue("pat-1", "record-created", T0)
    assert notifications.enqueue("pat-1", "record-created", T0)  # no key: never a duplicate
    assert send_due(notifications, smtp, address_of, now=T0)["sent"] == 5
    assert notifications.enqueue("pat-1", "emergency-access", T0 + timedelta(hours=1), key="session-7")


def test_backoff_doubles_up_to_six_hours():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert backoff(9) == timedelta(minutes=256) and backoff(10) == backoff(100) == timedelta(hours=6)


def test_retried_with_backoff_while_the_smtp_server_is_down(notifications, inbox):
    smtp, handler = inbox
    down = SmtpSettings(host="127.0.0.1", port=free_port(), sender=SENDER, timeout=2)
    notifications.enqueue("pat-1", "record-created", T0)

    assert send_due(notifications, down, address_of, now=T0)["retried"] == 1
    doc = notifications.collection.find_one({"patient": "pat-1"})
    assert (doc["status"], doc["attempts"], doc["next_try"]) == (PENDING, 1, T0 + timedelta(minutes=1))
    assert "ConnectionRefusedError" in doc["last_error"]
    assert send_due(notifications, smtp, address_of, now=T0 + timedelta(seconds=59))["sent"] == 0  # not yet due

    t1 = T0 + timedelta(minutes=1)
    assert send_due(notifications, down, address_of, now=t1)["retried"] == 1
    doc = notifications.collection.find_one({"patient": "pat-1"})
    assert (doc["attempts"], doc["next_try"]) == (2, t1 + timedelta(minutes=2))

    assert send_due(notifications, smtp, address_of, now=t1 + timedelta(minutes=2))["sent"] == 1
    [(_, recipients, message, _)] = handler.received
    assert recipients == ["ysolde@example.org"]
    assert "on 24 November 2026 at 10:32 (UTC)" in message.get_content()  # the time of the event
    assert notifications.collection.count_documents({}) == 0


def test_given_up_after_the_last_attempt(notifications):
    down = SmtpSettings(host="127.0.0.1", port=free_port(), sender=SENDER, timeout=2)
    notifications.enqueue("pat-1", "record-created", T0)
    now = T0
    for expected in ("retried", "retried", "failed"):  # max_attempts=3
        counts = send_due(notifications, down, address_of, now=now)
        assert counts[expected] == 1 and sum(counts.values()) == 1
        now += timedelta(hours=6)
    doc = notifications.collection.find_one({"patient": "pat-1"})
    assert (doc["status"], doc["attempts"]) == (FAILED, 3) and doc["last_error"]
    assert sum(send_due(notifications, down, address_of, now=now + timedelta(days=1)).values()) == 0
    assert notifications.collection.count_documents({}) == 1  # kept, without its claims


def test_a_patient_without_address_is_not_retried(notifications, inbox):
    smtp, handler = inbox
    notifications.enqueue("pat-2", "record-created", T0)
    assert send_due(notifications, smtp, address_of, now=T0)["no_address"] == 1
    assert notifications.collection.find_one({"patient": "pat-2"})["status"] == NO_ADDRESS
    assert sum(send_due(notifications, smtp, address_of, now=T0 + timedelta(days=1)).values()) == 0
    assert handler.received == []


def test_a_claim_holds_a_notification_until_its_lease_ends(notifications):
    notifications.enqueue("pat-1", "record-created", T0)
    [candidate] = notifications.due(T0)
    assert notifications.claim(candidate, T0) is not None
    assert notifications.claim(candidate, T0 + timedelta(seconds=30)) is None
    taken = notifications.claim(candidate, T0 + LEASE + timedelta(seconds=1))  # its sender died
    assert taken is not None
    notifications.delivered(taken)
    assert notifications.claim(candidate, T0 + 2 * LEASE) is None  # a stale read of a delivered notification
    assert notifications.collection.count_documents({}) == 0


def test_concurrent_claims_of_one_notification_have_one_winner(notifications):
    for round_ in range(20):
        notifications.enqueue("pat-1", "record-created", T0, key=str(round_))
        [candidate] = notifications.due(T0)
        start, winners = threading.Barrier(6), []

        def claim() -> None:
            start.wait()
            if notifications.claim(candidate, T0) is not None:
                winners.append(1)
        together(claim, 6)
        assert len(winners) == 1
        notifications.delivered(candidate)


def test_concurrent_senders_deliver_each_notification_once(notifications, inbox, db):
    smtp, handler = inbox
    patients = {f"pat-{i}": f"patient{i}@example.org" for i in range(30)}
    now = datetime.now(timezone.utc)
    for patient_id in patients:
        notifications.enqueue(patient_id, "document-changed", now)
    start, sent = threading.Barrier(4), []

    def sender() -> None:
        queue = Notifications(db)
        start.wait()
        while queue.due(datetime.now(timezone.utc)):
            sent.append(send_due(queue, smtp, patients.get, limit=10)["sent"])
    together(sender, 4)
    assert sum(sent) == 30
    assert Counter(address for _, recipients, _, _ in handler.received for address in recipients) == Counter(
        patients.values())
    assert notifications.collection.count_documents({}) == 0


def test_delivery_thread_sends_until_stopped(notifications, inbox):
    smtp, handler = inbox
    thread = DeliveryThread(notifications, smtp, address_of, interval=0.1)
    thread.start()
    notifications.enqueue("pat-1", "emergency-access", datetime.now(timezone.utc))
    for _ in range(100):
        if handler.received:
            break
        threading.Event().wait(0.1)
    thread.stop(timeout=10)
    assert not thread.is_alive() and len(handler.received) == 1


def test_login_when_a_user_is_set(notifications):
    handler, logins = Inbox(), []

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        smtp = SmtpSettings(host="127.0.0.1", port=controller.port, sender=SENDER, username="fhir",
                            password="s3cret")
        notifications.enqueue("pat-1", "record-created", T0)
        assert send_due(notifications, smtp, address_of, now=T0)["sent"] == 1
    finally:
        controller.stop()
    assert logins == [(b"fhir", b"s3cret")] and handler.received[0][3]


def test_delete_patient(notifications):
    notifications.enqueue("pat-1", "record-created", T0)
    notifications.enqueue("pat-1", "document-changed", T0, key="doc-1")
    notifications.enqueue("pat-9", "record-created", T0)
    notifications.claim(notifications.collection.find_one({"kind": "record-created", "patient": "pat-1"}), T0)
    assert notifications.delete_patient("pat-1") == 2
    assert notifications.delete_patient("pat-1") == 0
    assert [doc["patient"] for doc in notifications.collection.find({})] == ["pat-9"]  # claims gone too


def test_patient_email_picks_the_address_in_use():
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)

    def email(value: str, **extra) -> dict:
        return {"system": "email", "value": value, **extra}
    assert patient_email({"resourceType": "Patient"}, now) is None
    assert patient_email({"telecom": [{"system": "phone", "value": "+33 1"}]}, now) is None
    assert patient_email({"telecom": [email("work@x.org", use="work"), email("home@x.org", use="home")]},
                         now) == "home@x.org"
    assert patient_email({"telecom": [email("b@x.org", rank=2), email("a@x.org", rank=1), email("c@x.org")]},
                         now) == "a@x.org"
    assert patient_email({"telecom": [email("first@x.org"), email("second@x.org")]}, now) == "first@x.org"
    ended = [email("old@x.org", use="home", period={"end": "2026-05-31T23:59:59Z"}),
             email("gone@x.org", use="home", period={"end": "2025"}), email("old2@x.org", use="old"),
             email("month@x.org", use="home", period={"end": "2026-06"})]
    assert patient_email({"telecom": ended}, now) == "month@x.org"  # June is not over
    assert patient_email({"telecom": ended[:3]}, now) is None


def test_settings_from_env():
    assert not SmtpSettings.from_env({}).enabled
    settings = SmtpSettings.from_env({"FHIR_SMTP_HOST": "smtp.example.org", "FHIR_SMTP_PORT": "587",
                                      "FHIR_SMTP_FROM": SENDER, "FHIR_SMTP_USER": "fhir",
                                      "FHIR_SMTP_PASSWORD": "pw", "FHIR_SMTP_STARTTLS": "true"})
    assert settings == SmtpSettings(host="smtp.example.org", port=587, sender=SENDER, username="fhir",
                                    password="pw", starttls=True)
    with pytest.raises(ValueError):
        SmtpSettings.from_env({"FHIR_SMTP_HOST": "smtp.example.org"})  # no sender
    with pytest.raises(ValueError):
        SmtpSettings.from_env({"FHIR_SMTP_HOST": "smtp.example.org", "FHIR_SMTP_FROM": SENDER,
                               "FHIR_SMTP_STARTTLS": "yes"})
