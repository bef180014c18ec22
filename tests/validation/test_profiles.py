"""Our profiles (profiles/structure-definitions): each rule of each one, on a conforming resource and on one
that breaks that rule alone (the issue's code and path), and what the server itself writes conforms."""
from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from fhir_server.audit.events import Access, Actor, audit_event
from validation import Issue, known_profiles, validate_profile, validate_resource

BASE = "https://fhir-server.org/StructureDefinition/"
NIR = "urn:oid:1.2.250.1.213.1.4.8"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
CONF = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

PATIENT = {"resourceType": "Patient",
           "identifier": [{"system": "urn:oid:1.2.250.1.999.1", "value": "IPP-1"},
                          {"system": NIR, "value": "279035121518989"}],
           "name": [{"family": "MARTIN", "given": ["JEANNE"]}], "gender": "female", "birthDate": "1979-03-15"}
DOCUMENT = {"resourceType": "DocumentReference",
            "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.2.1"},
            "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
            "category": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/"
                                                     "TRE-A03-ClasseDocument", "code": "10"}]}],
            "subject": {"reference": "Patient/p1"}, "date": "2024-05-01T10:00:00+02:00",
            "author": [{"identifier": {"system": RPPS, "value": "810001234567"}}],
            "securityLabel": [{"coding": [{"system": CONF, "code": "N"}]}],
            "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/b1", "size": 3,
                                        "hash": "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="}}]}
CONSENT_BLOCK = {"resourceType": "Consent", "status": "active", "patient": {"reference": "Patient/p1"},
                 "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                       "code": "patient-privacy"}]},
                 "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                 "provision": {"type": "deny", "actor": [{
                     "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                          "code": "PRCP"}]},
                     "reference": {"identifier": {"system": RPPS, "value": "810001234567"}}}]}}
ETREAT = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"}
CONSENT_EMERGENCY = {**CONSENT_BLOCK, "provision": {"type": "deny", "purpose": [ETREAT]}}


def server_audit_event() -> dict:
    """An AuditEvent as the server writes it for a professional's read."""
    actor = Actor(kind="professional", client_id="vendor-1", practitioner="810001234567", profession="10",
                  address="127.0.0.1", purpose_of_use="TREAT")
    access = Access(interaction="read", status=200, recorded=datetime(2024, 5, 1, 10, tzinfo=timezone.utc),
                    actor=actor, patient="p1", entities=["DocumentReference/d1"])
    return audit_event(access, "e1", "http://127.0.0.1:8080/fhir")


def errors(resource: dict, profile: str) -> list[tuple[str, str]]:
    return [(i.code, i.path) for i in validate_profile(resource, BASE + profile) if i.severity == "error"]


def changed(resource: dict, change) -> dict:
    copied = copy.deepcopy(resource)
    change(copied)
    return copied


@pytest.mark.parametrize("resource, profile", [
    (PATIENT, "record-patient"), (DOCUMENT, "record-document-reference"), (CONSENT_BLOCK, "record-consent"),
    (CONSENT_EMERGENCY, "record-consent"), (server_audit_event(), "record-audit-event"),
    ({"resourceType": "Patient", "identifier": [{"system": "urn:id:LAB", "value": "7"}]}, "record-patient"),
])
def test_conforming_resources_have_no_issue(resource: dict, profile: str) -> None:
    assert validate_resource(resource) == []  # valid R4 to start with
    assert validate_profile(resource, BASE + profile) == []


@pytest.mark.parametrize("profile, change, expected", [
    # record-patient: identifiers required, INS slices 0..1 with their pattern, the INS identity traits
    ("record-patient", lambda r: r.pop("identifier"), [("required", "Patient.identifier")]),
    ("record-patient", lambda r: r["identifier"].append({"system": NIR, "value": "180017512345678"}),
     [("structure", "Patient.identifier")]),
    ("record-patient", lambda r: r["identifier"][1].update(value="27903512151898"),
     [("invariant", "Patient.identifier[1]")]),
    # without a value, the INS format constraint (value.matches(...)) is not true either: a constraint holds
    # when it evaluates to true, as in the official validator
    ("record-patient", lambda r: r["identifier"][1].pop("value"),
     [("required", "Patient.identifier[1].value"), ("invariant", "Patient.identifier[1]")]),
    ("record-patient", lambda r: r.pop("birthDate"), [("invariant", "Patient")]),
    ("record-patient", lambda r: r["name"][0].pop("given"), [("invariant", "Patient")]),
    ("record-patient", lambda r: r.pop("gender"), [("invariant", "Patient")]),
    # record-document-reference
    ("record-document-reference", lambda r: r.pop("masterIdentifier"),
     [("required", "DocumentReference.masterIdentifier")]),
    ("record-document-reference", lambda r: r.update(status="superseded"),
     [("value", "DocumentReference.status")]),
    ("record-document-reference", lambda r: r.update(type={"coding": [{"system": "http://loinc.org", "code": "1-8"}]}),
     [("code-invalid", "DocumentReference.type")]),
    ("record-document-reference", lambda r: r.pop("category"), [("required", "DocumentReference.category")]),
    ("record-document-reference", lambda r: r["category"][0]["coding"][0].update(code="99"),
     [("code-invalid", "DocumentReference.category[0]")]),
    ("record-document-reference", lambda r: r.update(subject={"reference": "Group/g1"}),
     [("invariant", "DocumentReference.subject")]),
    ("record-document-reference", lambda r: r.pop("date"), [("required", "DocumentReference.date")]),
    ("record-document-reference", lambda r: r.pop("author"), [("required", "DocumentReference.author")]),
    ("record-document-reference", lambda r: r.pop("securityLabel"), [("required", "DocumentReference.securityLabel")]),
    ("record-document-reference", lambda r: r["securityLabel"][0]["coding"][0].update(code="SECRET"),
     [("code-invalid", "DocumentReference.securityLabel[0]")]),
    ("record-document-reference", lambda r: r.pop("content"), [("required", "DocumentReference.content")]),
    ("record-document-reference", lambda r: r["content"][0]["attachment"].update(url="https://elsewhere/doc.pdf"),
     [("invariant", "DocumentReference.content[0].attachment.url")]),
    ("record-document-reference", lambda r: r["content"][0]["attachment"].pop("hash"),
     [("required", "DocumentReference.content[0].attachment.hash")]),
    ("record-document-reference", lambda r: r["content"][0]["attachment"].pop("size"),
     [("required", "DocumentReference.content[0].attachment.size")]),
    ("record-document-reference", lambda r: r["content"][0]["attachment"].pop("contentType"),
     [("required", "DocumentReference.content[0].attachment.contentType")]),
    # record-consent
    ("record-consent", lambda r: r["provision"].update(type="permit"), [("value", "Consent.provision.type")]),
    ("record-consent", lambda r: r.pop("provision"), [("required", "Consent.provision"), ("invariant", "Consent")]),
    ("record-consent", lambda r: r["provision"]["actor"][0]["reference"]["identifier"].update(system="urn:oid:1.2.3"),
     [("invariant", "Consent.provision.actor[0].reference.identifier")]),
    ("record-consent", lambda r: r["provision"].update(purpose=[ETREAT]), [("invariant", "Consent")]),
    # record-audit-event
    ("record-audit-event", lambda r: r["type"].update(code="rest-x"), [("value", "AuditEvent.type")]),
    ("record-audit-event", lambda r: r.pop("subtype"), [("required", "AuditEvent.subtype")]),
    ("record-audit-event", lambda r: r.pop("outcome"), [("required", "AuditEvent.outcome")]),
    ("record-audit-event", lambda r: r["agent"][0].update(requestor=True), [("invariant", "AuditEvent")]),
    ("record-audit-event", lambda r: r["agent"][0]["network"].pop("type"),
     [("invariant", "AuditEvent.agent[0].network")]),
    ("record-audit-event", lambda r: r["source"].pop("observer"), [("required", "AuditEvent.source.observer")]),
])
def test_each_rule(profile: str, change, expected: list[tuple[str, str]]) -> None:
    base = {"record-patient": PATIENT, "record-document-reference": DOCUMENT, "record-consent": CONSENT_BLOCK,
            "record-audit-event": server_audit_event()}[profile]
    assert sorted(errors(changed(base, change), profile)) == sorted(expected)


def test_the_consent_for_emergency_access_must_not_name_an_actor() -> None:
    both = changed(CONSENT_EMERGENCY, lambda r: r["provision"].update(actor=CONSENT_BLOCK["provision"]["actor"]))
    assert errors(both, "record-consent") == [("invariant", "Consent")]
    other = changed(CONSENT_EMERGENCY, lambda r: r["provision"].update(
        purpose=[{"system": ETREAT["system"], "code": "TREAT"}]))
    assert ("value", "Consent.provision.purpose[0]") in errors(other, "record-consent")


def test_unknown_profiles_and_wrong_types() -> None:
    assert validate_profile(PATIENT, BASE + "nothing") == [
        Issue("error", "not-found", "", f"The profile {BASE}nothing is not known to this server")]
    assert [i.code for i in validate_profile(DOCUMENT, BASE + "record-patient")] == ["invalid"]


def test_every_profile_is_a_constraint_on_its_r4_type() -> None:
    profiles = known_profiles()
    assert set(profiles) == {BASE + name for name in ("record-patient", "record-document-reference",
                                                      "record-consent", "record-audit-event")}
    for url, definition in profiles.items():
        assert validate_resource(definition) == [], url
        assert definition["derivation"] == "constraint" and definition["baseDefinition"].endswith(definition["type"])
        assert all(e["path"].split(".")[0] == definition["type"] for e in definition["differential"]["element"])
