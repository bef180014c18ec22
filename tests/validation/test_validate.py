"""validate_resource: every problem at once, each with its element path and IssueType code."""
from __future__ import annotations

import copy

import pytest

from validation import Issue, validate_resource
from validation.definitions import example_path
from tests.examples import load


def problems(resource: object, expected_type: str | None = None) -> set[tuple[str, str]]:
    """(path, code) of every error-level issue."""
    return {(i.path, i.code) for i in validate_resource(resource, expected_type) if i.severity == "error"}


def patient(**elements) -> dict:
    return {"resourceType": "Patient", **elements}


def test_a_valid_resource_has_no_issue():
    assert validate_resource(load(example_path("Patient-example.json")), "Patient") == []
    assert validate_resource({"resourceType": "Binary", "contentType": "application/pdf"}) == []


def test_unknown_property_at_depth():
    issues = validate_resource(patient(name=[{"family": "Doe", "foo": 1}]))
    assert [(i.path, i.code) for i in issues] == [("Patient.name[0].foo", "structure")]
    assert "foo" in issues[0].message


def test_wrong_json_type():
    assert problems(patient(active="yes")) == {("Patient.active", "structure")}
    assert problems(patient(name={"family": "Doe"})) == {("Patient.name", "structure")}
    assert problems(patient(text=None)) == {("Patient.text", "structure")}


def test_code_outside_its_required_binding():
    assert problems(patient(gender="x")) == {("Patient.gender", "code-invalid")}


@pytest.mark.parametrize("date", ["2020-13-45", "2020-02-30", "2020-01-01T10:00:00Z", "20200101"])
def test_bad_date(date):
    assert problems(patient(birthDate=date)) == {("Patient.birthDate", "value")}


def test_missing_required_elements():
    assert problems({"resourceType": "DocumentReference", "status": "current"}) == \
        {("DocumentReference.content", "required")}
    consent = {"resourceType": "Consent", "scope": {"text": "privacy"}, "category": [{"text": "consent"}]}
    assert problems(consent) == {("Consent.status", "required")}


def test_two_values_of_one_choice_element():
    issues = validate_resource(patient(deceasedBoolean=True, deceasedDateTime="2020-01-01"))
    assert [(i.path, i.code) for i in issues] == [("Patient.deceased[x]", "structure")]
    assert "deceasedBoolean" in issues[0].message and "deceasedDateTime" in issues[0].message


@pytest.mark.parametrize("bad_id", ["a_b", "x" * 65, "abc\n", "", 7])
def test_bad_resource_id(bad_id):
    codes = {code for path, code in problems(patient(id=bad_id)) if path == "Patient.id"}
    assert codes and codes <= {"value", "structure"}
    assert problems(patient(id="A-b.1" + "x" * 59)) == set()


def test_bad_id_of_a_contained_resource():
    resource = patient(contained=[{"resourceType": "Organization", "id": "org_1"}])
    assert problems(resource) == {("Patient.contained[0].id", "value")}


@pytest.mark.parametrize("element, empty, code", [("family", "", "value"), ("given", [], "structure"),
                                                 ("period", {}, "structure")])
def test_empty_values(element, empty, code):
    name = {"family": "Doe", "given": ["Jo"], "period": {"start": "2020"}}
    assert problems(patient(name=[name])) == set()
    assert problems(patient(name=[{**name, element: empty}])) == {(f"Patient.name[0].{element}", code)}


def test_empty_object_and_array_anywhere():
    assert problems(patient(name=[{}], telecom=[], contact=[{"name": {}}])) == {
        ("Patient.name[0]", "structure"), ("Patient.telecom", "structure"), ("Patient.contact[0].name", "structure")}


def test_not_an_object():
    for body in (None, "Patient", 5, [{"resourceType": "Patient"}]):
        assert [(i.path, i.code) for i in validate_resource(body)] == [("", "invalid")]


@pytest.mark.parametrize("resource", [{}, {"resourceType": "Nope"}, {"resourceType": 5},
                                      {"resourceType": "DomainResource"}])
def test_not_an_r4_resource_type(resource):
    assert [(i.path, i.code) for i in validate_resource(resource)] == [("", "invalid")]


def test_resource_type_other_than_expected():
    assert problems({"resourceType": "Observation"}, "Patient") == {
        ("Observation.resourceType", "invalid"),
        ("Observation.status", "required"), ("Observation.code", "required")}
    assert problems(patient(), "Patient") == set()


def test_several_problems_at_once_sorted_by_path():
    resource = patient(id="a_b", active="yes", gender="x", birthDate="2020-13-45", telecom=[],
                       name=[{"given": ["A", "B"], "foo": 1}] + [{"family": "F"}] * 9 + [{"text": ""}],
                       deceasedBoolean=True, deceasedDateTime="2020")
    issues = validate_resource(resource)
    assert [(i.path, i.code) for i in issues] == [
        ("Patient.active", "structure"),
        ("Patient.birthDate", "value"),
        ("Patient.deceased[x]", "structure"),
        ("Patient.gender", "code-invalid"),
        ("Patient.id", "value"),
        ("Patient.name[0].foo", "structure"),
        ("Patient.name[10].text", "value"),
        ("Patient.telecom", "structure"),
    ]
    assert all(isinstance(i, Issue) and i.severity == "error" and i.message for i in issues)


def test_problems_inside_bundle_entries_and_contained_resources_keep_their_path():
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": patient(gender="robot", contained=[{"resourceType": "Patient", "foo": 1}])},
        {"resource": {"resourceType": "Nope"}},
        {"resource": "Patient/1"},
    ]}
    assert problems(bundle) == {
        ("Bundle.entry[0].resource.gender", "code-invalid"),
        ("Bundle.entry[0].resource.contained[0].foo", "structure"),
        ("Bundle.entry[1].resource.resourceType", "invalid"),
        ("Bundle.entry[2].resource", "structure"),
    }


def test_the_same_problem_found_by_several_layers_is_reported_once():
    issues = validate_resource(patient(birthDate="2020-13-45", name=[{"given": ""}]))
    assert [(i.path, i.code) for i in issues] == [("Patient.birthDate", "value"),
                                                  ("Patient.name[0].given", "structure")]


def test_never_raises_on_malformed_input():
    base = load(example_path("Patient-example.json"))
    for key in base:
        for value in (None, 5, 1.5, True, "", "x", [], {}, [None], [{}], {"resourceType": 5}, 2**70):
            issues = validate_resource({**copy.deepcopy(base), key: value})
            assert all(isinstance(issue, Issue) for issue in issues)


def test_deeply_nested_content_is_refused_not_crashed():
    item: dict = {"linkId": "leaf", "type": "display"}
    for depth in range(400):
        item = {"linkId": str(depth), "type": "group", "item": [item]}
    issues = validate_resource({"resourceType": "Questionnaire", "status": "draft", "item": [item]})
    assert ("", "too-costly") in {(i.path, i.code) for i in issues}
