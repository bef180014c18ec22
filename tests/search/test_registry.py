"""The SearchParameter registry: every official R4 parameter of our types, with a single-type expression."""
from __future__ import annotations

import pytest

from fhir_server.search.registry import SEARCHABLE_TYPES, parameters, split_union
from validation.definitions import search_parameters

RESOURCE_LEVEL = {"_id": "token", "_lastUpdated": "date", "_tag": "token", "_profile": "uri", "_security": "token",
                  "_source": "uri"}


def official(resource_type: str) -> dict[str, str]:
    return {p["code"]: p["type"] for p in search_parameters() if resource_type in p.get("base", [])}


MHD = {"DocumentReference": {"creation": "date"}, "List": {"designationType": "token", "sourceId": "token"}}


@pytest.mark.parametrize("resource_type", SEARCHABLE_TYPES)
def test_every_official_parameter_is_present_with_its_type(resource_type):
    """The official R4 parameters, and those IHE MHD adds."""
    registered = parameters(resource_type)
    expected = official(resource_type) | RESOURCE_LEVEL | MHD.get(resource_type, {})
    assert {code: p.type for code, p in registered.items()} == expected
    mhd = {code for code, p in registered.items() if p.url.startswith("https://profiles.ihe.net/ITI/MHD/")}
    assert mhd == set(MHD.get(resource_type, {}))


@pytest.mark.parametrize("resource_type", SEARCHABLE_TYPES)
def test_expressions_name_only_their_own_type(resource_type):
    for param in parameters(resource_type).values():
        if param.type == "special":
            continue
        for part in split_union(param.expression):
            assert part.lstrip("(").split(".")[0] in (resource_type, "Resource"), (param.code, part)


@pytest.mark.parametrize(("resource_type", "codes"), [
    ("Patient", {"name": "string", "family": "string", "given": "string", "identifier": "token",
                 "birthdate": "date", "gender": "token", "address-city": "string", "general-practitioner": "reference",
                 "organization": "reference", "link": "reference", "telecom": "token", "phone": "token",
                 "email": "token", "active": "token", "deceased": "token", "language": "token",
                 "address-postalcode": "string"}),
    ("DocumentReference", {"patient": "reference", "subject": "reference", "type": "token", "category": "token",
                           "date": "date", "period": "date", "status": "token", "identifier": "token",
                           "author": "reference", "custodian": "reference", "relatesto": "reference",
                           "relation": "token", "security-label": "token", "encounter": "reference",
                           "event": "token", "facility": "token", "format": "token", "setting": "token",
                           "contenttype": "token", "location": "uri", "related": "reference",
                           "authenticator": "reference", "description": "string"}),
])
def test_named_parameters(resource_type, codes):
    registered = parameters(resource_type)
    assert {code: registered[code].type for code in codes} == codes


def test_multi_base_expressions_are_restricted():
    patient, document = parameters("Patient"), parameters("DocumentReference")
    assert patient["name"].expression == "Patient.name"
    assert patient["email"].expression == "Patient.telecom.where(system='email')"
    assert patient["death-date"].expression == "(Patient.deceased as dateTime)"
    assert document["patient"].expression == "DocumentReference.subject.where(resolve() is Patient)"
    assert document["identifier"].expression == "DocumentReference.masterIdentifier | DocumentReference.identifier"
    assert parameters("AuditEvent")["patient"].expression == (
        "AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)")
    assert parameters("Consent")["date"].expression == "Consent.dateTime"
    assert patient["_lastUpdated"].expression == "Resource.meta.lastUpdated"


def test_split_union_ignores_bars_in_parentheses_and_quotes():
    assert split_union("(A.b as dateTime) | A.c.where(d = 'x|y') | (A.e | A.f)") == [
        "(A.b as dateTime)", "A.c.where(d = 'x|y')", "(A.e | A.f)"]


def test_metadata():
    param = parameters("DocumentReference")["subject"]
    assert param.url == "http://hl7.org/fhir/SearchParameter/DocumentReference-subject"
    assert set(param.targets) == {"Practitioner", "Group", "Device", "Patient"}
    # The shared `patient` parameter targets Patient and Group; these expressions keep only Patients.
    assert parameters("DocumentReference")["patient"].targets == ("Patient",)
    assert parameters("AuditEvent")["patient"].targets == ("Patient",)
    assert set(parameters("Consent")["patient"].targets) == {"Patient", "Group"}  # Consent.patient: no where()
    assert param.description
    assert "identifier" in param.modifiers
    assert "ge" in parameters("Patient")["birthdate"].comparators
    assert parameters("Patient")["gender"].comparators == ()


def test_types_not_searched_have_no_parameters():
    assert parameters("Binary") == {}
