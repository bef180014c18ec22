"""The fhir.resources R4 model layer: what the schema cannot see, without its false positives."""
from __future__ import annotations

from validation.models import model_issues


def problems(resource: dict) -> set[tuple[str, str]]:
    return {(i.path, i.code) for i in model_issues(resource) if i.severity == "error"}


def patient(**elements) -> dict:
    return {"resourceType": "Patient", **elements}


def test_required_primitive_element():
    consent = {"resourceType": "Consent", "scope": {"text": "privacy"}, "category": [{"text": "consent"}]}
    assert problems(consent) == {("Consent.status", "required")}
    assert problems({**consent, "_status": {"extension": [{"url": "http://example.org/x", "valueString": "?"}]}}) \
        == set()  # a primitive's extension stands in for its value


def test_required_backbone_and_nested_primitive():
    assert problems(patient(link=[{"type": "refer"}])) == {("Patient.link[0].other", "required")}
    assert problems(patient(text={"div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'})) == \
        {("Patient.text.status", "required")}


def test_missing_choice_element():
    request = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
               "subject": {"reference": "Patient/1"}}
    [issue] = model_issues(request)
    assert (issue.path, issue.code) == ("MedicationRequest.medication[x]", "required")
    assert "medicationCodeableConcept" in issue.message


def test_two_values_of_a_choice_element_in_a_nested_element():
    resource = patient(extension=[{"url": "http://example.org/x", "valueString": "a", "valueBoolean": True}])
    [issue] = model_issues(resource)
    assert (issue.path, issue.code) == ("Patient.extension[0].value[x]", "structure")
    assert issue.message.endswith("found valueBoolean and valueString")


def test_dates_must_be_real_ones():
    assert problems(patient(birthDate="2021-02-29")) == {("Patient.birthDate", "value")}
    assert problems(patient(birthDate="2020-02-29")) == set()


def test_relative_urls_and_bare_hosts_are_valid_urls():
    # official examples ImplementationGuide-example (nameUrl "patient-example.html") and an Endpoint.address
    assert problems(patient(photo=[{"url": "patient-example.html"}, {"url": "127.0.0.1"}])) == set()


def test_extension_values_may_have_their_underscore_companion():
    # official CodeSystem v2-0003: a translation of an extension's valueString
    translation = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/translation", "extension": [
        {"url": "lang", "valueCode": "nl"}, {"url": "content", "valueString": "Vervallen"}]}]}
    resource = patient(extension=[{"url": "http://example.org/x", "valueString": "Deprecated",
                                   "_valueString": translation}])
    assert problems(resource) == set()


def test_a_primitive_companion_may_hold_only_an_id():
    assert problems(patient(gender="male", _gender={"id": "g1"})) == set()


def test_no_break_space_in_a_code_is_left_to_the_schema():
    assert problems(patient(maritalStatus={"coding": [{"code": "CHEST\u00a0"}]})) == set()


def test_a_malformed_nested_resource_is_a_warning_not_a_crash():
    [issue] = model_issues(patient(contained=[5]))
    assert (issue.severity, issue.code, issue.path) == ("warning", "exception", "Patient")


def test_a_leap_second_is_a_valid_time():
    assert problems(patient(deceasedDateTime="2016-12-31T23:59:60Z")) == set()
    assert problems(patient(deceasedDateTime="2016-02-30T23:59:59Z")) == {("Patient.deceasedDateTime", "value")}


def test_a_null_entry_of_a_code_array_is_a_repetition_without_value():
    # its model refuses null in a list of codes; JSON writes so a repetition that has only extensions
    absent = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                             "valueCode": "unknown"}]}
    statement = {"resourceType": "CapabilityStatement", "status": "draft", "date": "2020", "kind": "instance",
                 "fhirVersion": "4.0.1", "format": ["json", None], "_format": [None, absent]}
    assert model_issues(statement) == []
