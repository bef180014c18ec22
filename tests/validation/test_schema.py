"""The JSON schema layer: the official R4 schema with its faults corrected (valid R4 accepted, invalid refused)."""
from __future__ import annotations

import pytest

from validation.corrected_schema import _owner, definitions
from validation.definitions import open_bindings
from validation.schema import resource_types, schema_issues


def problems(resource: dict) -> set[tuple[str, str]]:
    return {(i.path, i.code) for i in schema_issues(resource)}


def patient(**elements) -> dict:
    return {"resourceType": "Patient", **elements}


def extension(**value) -> dict:
    return patient(extension=[{"url": "http://example.org/x", **value}])


def test_every_r4_resource_type_and_only_those():
    types = resource_types()
    assert len(types) == 146
    assert {"Patient", "DocumentReference", "Consent", "AuditEvent", "Binary", "List", "Bundle"} <= types
    assert not {"Resource", "DomainResource", "Citation"} & types  # abstract, and R4B-only


def test_unknown_property_message_names_it():
    [issue] = schema_issues(patient(name=[{"foo": 1}]))
    assert (issue.path, issue.code, issue.message) == ("Patient.name[0].foo", "structure", "Unknown property 'foo'")


def test_fhir_comments_is_not_r4():
    assert problems(patient(fhir_comments=["x"])) == {("Patient.fhir_comments", "structure")}


def test_contained_resources_are_checked_against_their_own_type_only():
    resource = patient(contained=[{"resourceType": "Organization", "name": "Acme", "gender": "male"},
                                  {"name": "no type"}])
    issues = schema_issues(resource)
    assert {(i.path, i.code) for i in issues} == {
        ("Patient.contained[0].gender", "structure"), ("Patient.contained[1].resourceType", "invalid")}
    assert all(len(i.message) < 200 for i in issues)


@pytest.mark.parametrize("choice", [{"multipleBirthInteger": 1.5}, {"multipleBirthInteger": 2**31},
                                    {"multipleBirthInteger": "3"}])
def test_choice_elements_get_the_corrected_primitive_checks(choice):
    assert {path for path, _ in problems(patient(**choice))} == {"Patient.multipleBirthInteger"}


@pytest.mark.parametrize("valid", [
    "\u00a0Seul",  # a no-break space is not XML Schema whitespace (official CodeSystem v2-0220)
    "\t\n\u000b\u000c\r \u0085\u00a0\u2000\u3000",  # only whitespace is still a string (HL7 test params-ws)
])
def test_string_pattern_has_its_xml_schema_meaning(valid):
    assert problems(patient(name=[{"family": valid}])) == set()


def test_code_with_a_no_break_space_is_valid_but_not_with_double_spaces():
    coding = {"system": "http://example.org", "code": "CHEST\u00a0"}  # official CodeSystem v2-0550
    assert problems(patient(maritalStatus={"coding": [coding]})) == set()
    coding["code"] = "a  b"
    assert problems(patient(maritalStatus={"coding": [coding]})) == {("Patient.maritalStatus.coding[0].code", "value")}


@pytest.mark.parametrize("value", ["abc\n", "2020-01-01\n"])
def test_a_final_newline_does_not_pass_a_pattern(value):
    assert problems(patient(id=value, birthDate=value)) == {("Patient.id", "value"), ("Patient.birthDate", "value")}


@pytest.mark.parametrize("attachment, path", [
    ({"size": -1}, "Patient.photo[0].size"),  # unsignedInt
    ({"size": 1.5}, "Patient.photo[0].size"),
    ({"size": 2**31}, "Patient.photo[0].size"),
    ({"data": "%%%2@()()"}, "Patient.photo[0].data"),  # base64Binary
    ({"data": "SGVsbG8"}, "Patient.photo[0].data"),
    ({"url": "a b"}, "Patient.photo[0].url"),
])
def test_primitive_values_out_of_their_type(attachment, path):
    assert {p for p, _ in problems(patient(photo=[attachment]))} == {path}


@pytest.mark.parametrize("attachment", [{"size": 0, "data": "SGVs\nbG8="}, {"size": 2**31 - 1, "data": "ab+/"}])
def test_primitive_values_within_their_type(attachment):
    assert problems(patient(photo=[attachment])) == set()


def test_positive_int_starts_at_one():
    timing = {"repeat": {"count": 0}}
    resource = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
                "medicationCodeableConcept": {"text": "aspirin"}, "subject": {"reference": "Patient/1"},
                "dosageInstruction": [{"timing": timing}]}
    assert problems(resource) == {("MedicationRequest.dosageInstruction[0].timing.repeat.count", "value")}
    timing["repeat"]["count"] = 1
    assert problems(resource) == set()


@pytest.mark.parametrize("elements, path", [({"text": None}, "Patient.text"), ({"managingOrganization": 5},
                                                                               "Patient.managingOrganization"),
                                            ({"text": {"status": "generated", "div": 5}}, "Patient.text.div")])
def test_complex_types_are_objects_and_xhtml_a_string(elements, path):
    assert problems(patient(**elements)) == {(path, "structure")}


def test_canonical_elements_have_their_underscore_companion():
    meta = {"profile": ["http://example.org/p"], "_profile": [{"extension": [
        {"url": "http://example.org/why", "valueString": "because"}]}]}
    assert problems(patient(meta=meta)) == set()


def test_meta_is_a_valid_extension_value():
    assert problems(extension(valueMeta={"versionId": "1"})) == set()
    assert problems(extension(valueMeta={"foo": 1})) == {("Patient.extension[0].valueMeta.foo", "structure")}


def test_required_bindings_the_official_schema_left_out():
    reference = {"resourceType": "DocumentReference", "status": "current", "docStatus": "final",
                 "content": [{"attachment": {"contentType": "application/pdf"}}]}
    assert problems(reference) == set()
    assert problems({**reference, "docStatus": "done"}) == {("DocumentReference.docStatus", "code-invalid")}
    timing = {"repeat": {"dayOfWeek": ["mon", "funday"]}}
    assert problems(extension(valueTiming=timing)) == {
        ("Patient.extension[0].valueTiming.repeat.dayOfWeek[1]", "code-invalid")}


def test_only_required_bindings_limit_the_codes():
    # Expression.language is bound extensibly to expression-language (R4 metadatatypes.html#Expression); the
    # official schema had the value set's three codes as an enum
    expression = {"language": "text/plain", "expression": "age > 18"}
    assert problems(extension(valueExpression=expression)) == set()
    assert problems(extension(valueExpression={**expression, "language": "text/cql"})) == set()
    assert problems(extension(valueExpression={**expression, "language": ""})) == {
        ("Patient.extension[0].valueExpression.language", "value")}


def test_no_element_with_an_open_binding_keeps_an_enum():
    bound = {path for path in open_bindings() if "." in path}
    assert "Expression.language" in bound and len(bound) > 500
    for path in bound:
        owner = _owner(definitions(), path)
        schema = (owner or {}).get("properties", {}).get(path.rsplit(".", 1)[1], {})
        assert "enum" not in schema.get("items", schema), path


def test_fhir_version_4_0_1_is_a_valid_fhir_version():
    statement = {"resourceType": "CapabilityStatement", "status": "active", "date": "2024", "kind": "instance",
                 "fhirVersion": "4.0.1", "format": ["json"], "implementation": {"description": "x"}}
    assert problems(statement) == set()
    assert problems({**statement, "fhirVersion": "4.0.2"}) == {("CapabilityStatement.fhirVersion", "code-invalid")}


def test_primitive_arrays_may_hold_null_where_the_companion_has_an_entry():
    name = {"given": [None, "B"], "_given": [{"extension": [{"url": "http://example.org/x", "valueCode": "a"}]}, None]}
    assert problems(patient(name=[name])) == set()
    assert problems(patient(name=[{"family": None}])) == {("Patient.name[0].family", "structure")}
