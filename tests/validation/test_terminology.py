"""Codes of the code systems R4 defines in full, whatever the binding, and required bindings without a code
(validation/terminology.py)."""
from __future__ import annotations

from validation import validate_resource

NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">A</div>'}


def errors(resource: dict) -> list[tuple[str, str]]:
    return [(i.code, i.path) for i in validate_resource(resource, invariants=True) if i.severity == "error"]


def contract(**elements) -> dict:
    return {"resourceType": "Contract", "text": NARRATIVE, **elements}


def legal_state(code: str, system: str = "http://hl7.org/fhir/contract-legalstate", **coding) -> dict:
    return {"legalState": {"coding": [{"system": system, "code": code, **coding}]}}


def test_a_code_of_a_complete_core_code_system_whatever_the_binding():
    # Contract.legalState has an extensible binding; HL7 test contract-binding-test.json
    assert errors(contract(**legal_state("executed"))) == []
    assert errors(contract(**legal_state("invalid-code-test"))) == [
        ("code-invalid", "Contract.legalState.coding[0].code")]


def test_codes_at_any_depth_and_in_a_coding_element():
    label = {"system": "http://hl7.org/fhir/contract-security-classification", "code": "X"}
    resource = contract(term=[{"securityLabel": [{"number": [1], "classification": label}],
                               "offer": {"text": "x"}}])
    assert errors(resource) == [("code-invalid", "Contract.term[0].securityLabel[0].classification.code")]
    label["code"] = "policy"
    assert errors(resource) == []


def test_codes_compare_as_the_code_system_says():
    # contract-legalstate is case sensitive (caseSensitive: true, as every code system FHIR defines)
    assert errors(contract(**legal_state("EXECUTED"))) == [("code-invalid", "Contract.legalState.coding[0].code")]


def test_the_code_systems_of_hl7_terminology_are_not_checked():
    # maintained by HL7 Terminology (THO), they gain codes after R4: v2-0203 NNFIN (a Finnish national
    # identifier, HL7 test patient-with-turvakielto.json) is valid though not in R4's copy
    patient = {"resourceType": "Patient", "text": NARRATIVE, "identifier": [{"type": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NNFIN"}]}, "value": "x"}]}
    assert errors(patient) == []
    assert errors(contract(**legal_state("no-such-code",
                                         system="http://terminology.hl7.org/CodeSystem/v3-Confidentiality"))) == []


def test_code_systems_not_defined_in_full_by_r4_are_not_checked():
    for system in ("http://snomed.info/sct", "http://loinc.org", "http://example.org/codes",
                   "http://terminology.hl7.org/CodeSystem/insurance-plan-type"):  # the last one is a fragment
        assert errors(contract(**legal_state("no-such-code", system=system))) == []


def test_a_coding_of_another_version_of_the_code_system_is_not_checked():
    assert errors(contract(**legal_state("new-code", version="5.0.0"))) == []
    assert errors(contract(**legal_state("new-code", version="4.0.1"))) == [
        ("code-invalid", "Contract.legalState.coding[0].code")]


def test_a_coding_without_code_is_left_to_the_other_rules():
    assert errors(contract(legalState={"coding": [{"system": "http://hl7.org/fhir/contract-legalstate",
                                                   "display": "Executed"}]})) == []


def allergy(**elements) -> dict:
    return {"resourceType": "AllergyIntolerance", "text": NARRATIVE, "patient": {"reference": "Patient/1"},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                         "allergyintolerance-verification",
                                               "code": "entered-in-error"}]}, **elements}


ABSENT = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]}


def test_a_required_binding_is_not_satisfied_by_a_data_absent_reason():
    # HL7 test allergy.json: category (required binding) holds no code, only a data-absent-reason
    assert errors(allergy(_category=[ABSENT])) == [("code-invalid", "AllergyIntolerance.category[0]")]
    assert errors(allergy(category=["food", None], _category=[None, ABSENT])) == [
        ("code-invalid", "AllergyIntolerance.category[1]")]
    assert errors(allergy(_criticality=ABSENT)) == [("code-invalid", "AllergyIntolerance.criticality")]
    assert errors(allergy(category=["food"], _category=[ABSENT])) == []  # a code with an extension


def test_a_data_absent_reason_where_the_binding_is_not_required():
    # Patient.maritalStatus is extensible; Patient.birthDate has no binding
    patient = {"resourceType": "Patient", "text": NARRATIVE, "_birthDate": ABSENT}
    assert errors(patient) == []
