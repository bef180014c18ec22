"""The e-mail of a notification, and its delivery over SMTP.

The message says only what kind of thing happened to the patient's record and when (in UTC): no name, no
document, nothing medical, since e-mail is neither private nor sure to reach only the patient.
"""
from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

SUBJECT = "Your health record: new activity"
WHAT = {
    "record-created": "Your health record was created",
    "emergency-access": "A health professional used emergency access to open your health record",
    "document-changed": "A health professional added or changed a document in your health record",
    "consultation": "A health professional consulted your health record for the first time",
}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""  # empty: no delivery
    port: int = 25
    sender: str = ""
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    # Seconds per network operation; a delivery takes a few, well under the claim's lease (queue.LEASE).
    timeout: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "SmtpSettings":
        """From FHIR_SMTP_HOST, _PORT, _FROM, _USER, _PASSWORD and _STARTTLS ("true" or "false")."""
        env = os.environ if environ is None else environ
        starttls = env.get("FHIR_SMTP_STARTTLS", "false").strip().lower()
        if starttls not in ("true", "false"):
            raise ValueError(f"FHIR_SMTP_STARTTLS must be true or false, not {starttls!r}")
        settings = cls(host=env.get("FHIR_SMTP_HOST", "").strip(), port=int(env.get("FHIR_SMTP_PORT") or 25),
                       sender=env.get("FHIR_SMTP_FROM", "").strip(), username=env.get("FHIR_SMTP_USER") or None,
                       password=env.get("FHIR_SMTP_PASSWORD") or None, starttls=starttls == "true")
        if settings.enabled and not settings.sender:
            raise ValueError("FHIR_SMTP_FROM is required when FHIR_SMTP_HOST is set")
        return settings


def build_message(kind: str, at: datetime, sender: str, to: str) -> EmailMessage:
    """The plain-text e-mail telling that `kind` happened at `at` (an aware datetime)."""
    when = at.astimezone(timezone.utc)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = SUBJECT
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no automatic replies
    message.set_content(
        f"{WHAT[kind]} on {when.day} {MONTHS[when.month - 1]} {when.year} at {when:%H:%M} (UTC).\n\n"
        "Sign in to your health record to see the details.\n\n"
        "This message was sent automatically: please do not reply to it.\n")
    return message


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Delivers `message` to the SMTP server; raises smtplib.SMTPException or OSError when it fails."""
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(message)
