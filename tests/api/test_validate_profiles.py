"""Our profiles over HTTP: `$validate?profile=...`, writes claiming a profile in meta.profile, and the
CapabilityStatement's supportedProfile."""
from __future__ import annotations

import uuid

import requests

from .client import HEADERS, INS

PROFILES = "https://fhir-server.org/StructureDefinition/"
PATIENT = PROFILES + "record-patient"


def patient(**extra) -> dict:
    """A Patient with an INS-NIR but no birth date (our record-patient profile requires one with an INS)."""
    nir = f"1{uuid.uuid4().int % 10**14:014d}"
    return {"resourceType": "Patient", "identifier": [{"system": INS, "value": nir}],
            "name": [{"family": "MARTIN", "given": ["JEANNE"]}], "gender": "female", **extra}


def errors(outcome: dict) -> list[dict]:
    return [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]


def test_validate_against_a_profile_named_in_the_query_or_the_parameters(http, base):
    plain = http.post(f"{base}/Patient/$validate", json=patient(), headers=HEADERS)
    assert plain.status_code == 200 and errors(plain.json()) == []  # valid R4
    profiled = http.post(f"{base}/Patient/$validate", params={"profile": PATIENT}, json=patient(), headers=HEADERS)
    assert profiled.status_code == 200 and errors(profiled.json()), profiled.text
    assert all(i.get("expression") for i in errors(profiled.json()))  # each issue says where
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": patient(birthDate="1979-03-15")},
        {"name": "profile", "valueUri": PATIENT}]}
    good = http.post(f"{base}/Patient/$validate", json=parameters, headers=HEADERS)
    assert good.status_code == 200 and errors(good.json()) == [], good.text
    unknown = http.post(f"{base}/Patient/$validate", params={"profile": PROFILES + "nothing-like-it"},
                        json=patient(), headers=HEADERS)
    assert [i["code"] for i in errors(unknown.json())] == ["not-found"]


def test_a_write_claiming_one_of_our_profiles_must_conform_to_it(http, base, db):
    claimed = patient(meta={"profile": [PATIENT]})
    before = db["Patient"].count_documents({})
    refused = http.post(f"{base}/Patient", json=claimed, headers=HEADERS)
    assert refused.status_code == 422 and refused.json()["resourceType"] == "OperationOutcome", refused.text
    assert db["Patient"].count_documents({}) == before
    assert http.post(f"{base}/Patient", json={**claimed, "birthDate": "1979-03-15"},
                     headers=HEADERS).status_code == 201
    not_ours = patient(meta={"profile": ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"]})
    assert http.post(f"{base}/Patient", json=not_ours, headers=HEADERS).status_code == 201  # not held: R4 only
    assert http.post(f"{base}/Patient", json=patient(), headers=HEADERS).status_code == 201  # claims none


def test_the_capability_statement_lists_our_profiles(base):
    statement = requests.get(f"{base}/metadata", headers={"Accept": "application/fhir+json"}).json()
    profiles = {r["type"]: r.get("supportedProfile", []) for r in statement["rest"][0]["resource"]}
    assert PATIENT in profiles["Patient"]
    assert PROFILES + "record-document-reference" in profiles["DocumentReference"]
    assert PROFILES + "record-consent" in profiles["Consent"]
    assert PROFILES + "record-audit-event" in profiles["AuditEvent"]
