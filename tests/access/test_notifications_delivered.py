"""End to end: a professional's push reaches the patient's mailbox through a real SMTP server (aiosmtpd)."""
from __future__ import annotations

import time

from aiosmtpd.controller import Controller

from fhir_server import create_app
from fhir_server.storage.ferretdb import free_port
from tests.conftest import app_client

from ..api.client import HEADERS
from ..notifications.test_notifications import Inbox

TITLE = "Oncology follow-up letter"


def test_the_patient_is_told_by_email_and_the_message_holds_no_health_data(database, monkeypatch):
    inbox, port = Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    monkeypatch.setenv("FHIR_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("FHIR_SMTP_PORT", str(port))
    monkeypatch.setenv("FHIR_SMTP_FROM", "record@health.example.org")
    uri, name = database
    app = create_app({"mongodb_uri": uri, "database_name": name, "notification_interval": 1})
    try:
        client, token = app_client(app)
        headers = {**HEADERS, **token}
        patient = client.post("/fhir/Patient", headers=headers, json={
            "resourceType": "Patient", "name": [{"family": "Quillfeather"}],
            "telecom": [{"system": "email", "value": "ysolde@example.org"}]}).get_json()
        pushed = client.post("/fhir/DocumentReference", headers=headers, json={
            "resourceType": "DocumentReference", "status": "current", "description": TITLE,
            "subject": {"reference": f"Patient/{patient['id']}"},
            "content": [{"attachment": {"url": "http://x.example/1", "title": TITLE}}]})
        assert pushed.status_code == 201
        deadline = time.monotonic() + 30
        def messages() -> list:  # the queue may hold other tests' patients' notifications too
            return [m for _, to, m, _ in inbox.received if to == ["ysolde@example.org"]]
        while len(messages()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        bodies = [m.get_body(preferencelist=("plain",)).get_content() for m in messages()]
        assert len(bodies) == 2, inbox.received
        assert any("Your health record was created" in b for b in bodies)
        assert any("added or changed a document" in b for b in bodies)
        assert not any(TITLE in b or "Quillfeather" in b or patient["id"] in b for b in bodies)
    finally:
        app.extensions["notification_delivery"].stop()
        smtp.stop()
