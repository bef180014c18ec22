"""What a patient chose to be told (service/notify.py): the notices they turned off are not queued, a
professional's consultation is told the first time only (on every node: the mark is in the database), the
emergency access always; the address they chose is where notices go; and only they decide."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from fhir_server.access.policy import RecordAccess
from fhir_server.audit.events import Actor
from fhir_server.errors import Forbidden, Unprocessable
from fhir_server.service.notify import NoticeChoices, Notifier, address_finder
from fhir_server.storage.mongo import ensure_indexes
from fhir_server.storage.notification_queue import Notifications
from fhir_server.storage.notification_settings import NotificationSettings
from fhir_server.storage.records import Records
from fhir_server.storage.resources import ResourceStore

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def queued(db, patient_id: str, kind: str) -> int:
    return db["notifications"].count_documents({"patient": patient_id, "kind": kind})


def rules_of(db, actor: Actor | None) -> RecordAccess:
    return RecordAccess(ResourceStore(db), Records(db), actor)


def test_choices_decide_what_is_queued_and_consultations_are_told_once(db):
    ensure_indexes(db, [])
    patient = str(uuid.uuid4())
    settings = NotificationSettings(db)
    first_node, second_node = (Notifier(Notifications(db), settings) for _ in range(2))
    first_node(patient, "consultation", NOW, "810000000001")
    second_node(patient, "consultation", NOW, "810000000001")  # another node, the same professional
    first_node(patient, "consultation", NOW, "810000000002")
    assert queued(db, patient, "consultation") == 2
    owner = rules_of(db, Actor(kind="patient", patient=patient))
    NoticeChoices(settings).choose(owner, patient, {"consultation": False, "document-changed": False,
                                                    "emergency-access": False})
    first_node(patient, "consultation", NOW, "810000000003")
    first_node(patient, "document-changed", NOW, "doc/1")
    first_node(patient, "emergency-access", NOW, "810000000003:2026-12-07")  # cannot be turned off
    assert (queued(db, patient, "consultation"), queued(db, patient, "document-changed"),
            queued(db, patient, "emergency-access")) == (2, 0, 1)
    assert NoticeChoices(settings).read(owner, patient) == {"email": "", "document-changed": False,
                                                            "consultation": False}


def test_the_chosen_address_and_who_may_choose(db):
    patient = str(uuid.uuid4())
    choices = NoticeChoices(NotificationSettings(db))
    owner = rules_of(db, Actor(kind="patient", patient=patient))
    with pytest.raises(Unprocessable):
        choices.set_email(owner, patient, "not an address")
    choices.set_email(owner, patient, "camille@example.org")
    assert address_finder(ResourceStore(db))(patient) == "camille@example.org"
    for stranger in (Actor(kind="patient", patient="someone-else"),
                     Actor(kind="professional", practitioner="810000000001", profession="10")):
        with pytest.raises(Forbidden):
            choices.choose(rules_of(db, stranger), patient, {"consultation": False})
    with pytest.raises(Forbidden):
        choices.read(rules_of(db, None), patient)  # the server's jobs do not decide for the patient either


def test_a_purge_forgets_only_its_own_records_consultation_marks(db):
    """A Patient id may hold '.', which a regular expression would take for any character."""
    from datetime import datetime, timezone
    from fhir_server.storage.notification_settings import NotificationSettings
    settings, now = NotificationSettings(db), datetime.now(timezone.utc)
    assert settings.first_consultation("a.b", "810000000001", now)
    assert settings.first_consultation("aXb", "810000000001", now)
    settings.delete_patient("a.b")
    assert settings.first_consultation("a.b", "810000000001", now)  # forgotten: told again
    assert not settings.first_consultation("aXb", "810000000001", now)  # another record's mark kept
