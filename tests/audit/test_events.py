"""AuditEvents are valid R4 and carry the BALP codes for each kind of caller and interaction."""
from __future__ import annotations

import base64
from dataclasses import FrozenInstanceError, replace
from datetime import datetime, timezone

import pytest

from fhir_server.audit.events import OPERATIONS, PROFESSION, RPPS, Access, Actor, audit_event
from validation import validate_resource

SERVER = "https://dmp.example.org/fhir"
WHEN = datetime(2024, 5, 2, 8, 30, 15, 123456, tzinfo=timezone.utc)
DOCTOR = Actor(kind="professional", client_id="vendor-1", practitioner=f"{RPPS}|810001234567", profession="10",
               organization="10000001", address="192.0.2.10", purpose_of_use="TREAT")
PATIENT = Actor(kind="patient", client_id="patient-app", patient="p1", address="198.51.100.7")
PARENT = Actor(kind="representative", client_id="patient-app", patient="child1", representative="rp1")
SOFTWARE = Actor(kind="software", client_id="batch-tool", address="2001:db8::1")
ANONYMOUS = Actor(kind="anonymous", address="203.0.113.9")


def event(actor: Actor, interaction: str = "read", status: int = 200, **fields) -> dict:
    built = audit_event(Access(interaction, status, WHEN, actor, **fields), "ae-1", SERVER)
    errors = [issue for issue in validate_resource(built, "AuditEvent") if issue.severity == "error"]
    assert errors == []
    return built


def agent(built: dict, system: str, code: str) -> dict:
    [found] = [a for a in built["agent"] if any(c["system"] == system and c["code"] == code
                                                 for c in a["type"]["coding"])]
    return found


def codes(concepts: list[dict]) -> list[str]:
    return [coding["code"] for concept in concepts for coding in concept["coding"]]


DCM = "http://dicom.nema.org/resources/ontology/DCM"
HUMAN = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"


def test_a_professional_reading_a_document():
    built = event(DOCTOR, "read", patient="p1", entities=["DocumentReference/d1"])
    assert built["type"] == {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                             "display": "RESTful Operation"}
    assert built["subtype"] == [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read",
                                 "display": "read"}]
    assert (built["id"], built["action"], built["outcome"]) == ("ae-1", "R", "0")
    assert built["recorded"] == "2024-05-02T08:30:15.123Z" and "outcomeDesc" not in built
    assert codes(built["purposeOfEvent"]) == ["TREAT"]
    # BALP Read: the server sends the data (Source Role ID), the client receives it (Destination Role ID).
    client = agent(built, DCM, "110152")
    assert client["who"] == {"identifier": {"value": "vendor-1"}} and client["requestor"] is False
    assert client["network"] == {"address": "192.0.2.10", "type": "2"}
    user = agent(built, HUMAN, "humanuser")
    assert user["who"] == {"identifier": {"system": RPPS, "value": "810001234567"}} and user["requestor"] is True
    assert user["role"] == [{"coding": [{"system": PROFESSION, "code": "10"}]}]
    assert [c["code"] for c in user["type"]["coding"]] == ["humanuser", "IRCP"]
    assert codes(user["purposeOfUse"]) == ["TREAT"]
    organization = agent(built, "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV")
    assert organization["who"] == {"identifier": {"value": "10000001"}} and organization["requestor"] is False
    server = agent(built, DCM, "110153")
    assert server["who"] == {"display": SERVER} and server["network"] == {"address": SERVER, "type": "5"}
    assert built["source"] == {"observer": {"display": SERVER}, "type": [{
        "system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
        "display": "Application Server"}]}
    patient, document = built["entity"]
    assert patient["what"] == {"reference": "Patient/p1"}
    assert (patient["type"]["code"], patient["role"]["code"]) == ("1", "1")
    assert patient["type"]["system"] == "http://terminology.hl7.org/CodeSystem/audit-entity-type"
    assert patient["role"]["system"] == "http://terminology.hl7.org/CodeSystem/object-role"
    assert document["what"] == {"reference": "DocumentReference/d1"}
    assert (document["type"]["code"], document["role"]["code"]) == ("2", "4")


def test_a_patient_creating_writes_as_author_and_the_client_sends():
    built = event(PATIENT, "create", 201, patient="p1", entities=["DocumentReference/d2/_history/1"])
    assert built["action"] == "C"
    assert agent(built, DCM, "110153")["who"] == {"identifier": {"value": "patient-app"}}
    assert agent(built, DCM, "110152")["who"] == {"display": SERVER}
    user = agent(built, HUMAN, "humanuser")
    assert user["who"] == {"reference": "Patient/p1"} and "role" not in user and "purposeOfUse" not in user
    assert [c["code"] for c in user["type"]["coding"]] == ["humanuser", "AUT"]
    assert [e["what"]["reference"] for e in built["entity"]] == ["Patient/p1", "DocumentReference/d2/_history/1"]


def test_a_representative_is_named_by_their_own_ins():
    built = event(PARENT, "vread", patient="child1", entities=["Patient/child1/_history/3", "Patient/child1"])
    assert agent(built, HUMAN, "humanuser")["who"] == {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8",
                                                                      "value": "rp1"}}
    # The Patient read is the patient entity itself, once.
    assert [e["what"]["reference"] for e in built["entity"]] == ["Patient/child1", "Patient/child1/_history/3"]


def test_a_search_by_software_records_its_query():
    query = "DocumentReference?patient=Patient/p1&type=http://loinc.org|11488-4&_sort=-date"
    built = event(SOFTWARE, "search-type", patient="p1", query=query)
    assert built["action"] == "E" and built["subtype"][0]["code"] == "search-type"
    assert "purposeOfEvent" not in built
    assert [a["type"]["coding"][0]["code"] for a in built["agent"]] == ["110153", "110152"]  # no user agent
    client = agent(built, DCM, "110153")
    assert client["requestor"] is True and client["network"] == {"address": "2001:db8::1", "type": "2"}
    [entry] = [e for e in built["entity"] if e["role"]["code"] == "24"]
    assert entry["type"]["code"] == "2" and "what" not in entry
    assert base64.b64decode(entry["query"]).decode() == query and entry["description"] == query


@pytest.mark.parametrize("status, outcome", [(401, "4"), (403, "4"), (404, "4"), (500, "8"), (503, "8"),
                                             (304, "0"), (204, "0")])
def test_outcomes(status, outcome):
    description = "Forbidden: the record is closed" if status >= 400 else None
    built = event(DOCTOR, "read", status, patient="p1", description=description)
    assert built["outcome"] == outcome
    assert built.get("outcomeDesc") == description


def test_an_anonymous_refusal():
    built = event(ANONYMOUS, "search-type", 401, description="No access token", query="Patient?identifier=x")
    assert (built["outcome"], built["outcomeDesc"]) == ("4", "No access token")
    [client, server] = built["agent"]
    assert "who" not in client and client["requestor"] is True and client["network"]["address"] == "203.0.113.9"
    assert server["who"] == {"display": SERVER}


def test_an_emergency_access_says_break_glass():
    built = event(replace(DOCTOR, purpose_of_use="ETREAT"), "operation", patient="p1", operation="everything",
                  emergency=True, entities=["DocumentReference/d1", "Binary/b1"])
    assert built["action"] == "E"
    assert built["subtype"][1] == {"system": OPERATIONS, "code": "everything", "display": "$everything"}
    for concepts in (built["purposeOfEvent"], agent(built, HUMAN, "humanuser")["purposeOfUse"]):
        assert codes(concepts) == ["ETREAT", "BTG"]
        assert {c["coding"][0]["system"] for c in concepts} == {"http://terminology.hl7.org/CodeSystem/v3-ActReason"}


@pytest.mark.parametrize("interaction, action", [
    ("update", "U"), ("patch", "U"), ("delete", "D"), ("history-instance", "R"), ("history-type", "R"),
    ("batch", "E"), ("transaction", "E")])
def test_actions(interaction, action):
    built = event(DOCTOR, interaction, patient="p1", entities=["DocumentReference/d1"])
    assert built["action"] == action


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        audit_event(Access("fetch", 200, WHEN, DOCTOR), "ae-1", SERVER)
    with pytest.raises(ValueError):
        audit_event(Access("read", 200, datetime(2024, 1, 1), DOCTOR), "ae-1", SERVER)


def test_one_requestor_per_event_and_the_organization_only_for_a_professional_who_has_one():
    for actor in (DOCTOR, PATIENT, PARENT, SOFTWARE, ANONYMOUS, replace(DOCTOR, organization=None),
                  replace(PATIENT, organization="10000001")):
        built = event(actor, "search-type", query="DocumentReference?patient=p1")
        assert sum(a["requestor"] for a in built["agent"]) == 1, actor
        organizations = [a for a in built["agent"]
                         if a.get("who", {}).get("identifier", {}).get("value") == "10000001"]
        assert len(organizations) == (actor is DOCTOR), actor


@pytest.mark.parametrize("actor", [replace(DOCTOR, practitioner=None), replace(PARENT, representative=None),
                                   replace(PATIENT, patient=None)], ids=["professional", "representative", "patient"])
def test_a_caller_whose_person_is_unknown_names_no_user(actor):
    """No human user agent without the person's identity: the software is the requestor."""
    built = event(actor, "read", patient="p1", entities=["Patient/p1"])
    assert [a for a in built["agent"] if "humanuser" in str(a["type"])] == []
    assert [a["who"] for a in built["agent"] if a["requestor"]] == [{"identifier": {"value": actor.client_id}}]


def test_a_patient_id_that_is_no_fhir_id_is_named_as_text_only():
    built = event(SOFTWARE, "read", status=404, asked_patient="x:y" * 100)
    [asked] = [e for e in built["entity"] if "description" in e]
    assert asked["description"].startswith("not a Patient id: x:yx:y") and "what" not in asked
    assert len(asked["description"]) == len("not a Patient id: ") + 200  # kept short


def test_a_caller_cannot_be_changed_once_named():
    """An Actor is shared by everything a request records: none of them may rename the caller."""
    with pytest.raises(FrozenInstanceError):
        DOCTOR.practitioner = "someone else"  # type: ignore[misc]
