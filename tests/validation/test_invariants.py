"""The invariants of the R4 definitions, duplicate element ids and the Bundle rules (validation/invariants.py)."""
from __future__ import annotations

import pytest
from fhirpathpy.engine.nodes import ResourceNode

from validation import Issue, validate_resource
from validation.corrections import CORRECTED
from validation.definitions import structure_definitions
from validation.elements import all_constraints
from validation.fhirpath import compiled
from validation.invariants import unsupported_invariants
from validation.native import NATIVE
from validation.vital_signs import profiles_by_code

NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">A</div>'}


def found(resource: dict) -> set[tuple[str, str, str]]:
    """(key or code, path, severity) of each issue, the narrative warning (dom-6) left out."""
    return {(i.key or i.code, i.path, i.severity) for i in validate_resource(resource, invariants=True)
            if i.key != "dom-6"}


def patient(**elements) -> dict:
    return {"resourceType": "Patient", "text": NARRATIVE, **elements}


def organization(id_: str, **elements) -> dict:
    return {"resourceType": "Organization", "id": id_, "name": "Org", **elements}


def test_a_valid_resource_fails_no_invariant():
    assert validate_resource(patient(name=[{"family": "Martin"}], contact=[{"name": {"family": "Martin"}}]),
                             invariants=True) == []


def test_invariants_only_when_asked():
    assert validate_resource(patient(contact=[{"gender": "female"}])) == []


@pytest.mark.parametrize("elements, path", [
    ({"name": [{"id": "n1"}]}, "Patient.name[0]"),  # a complex element with nothing but an id
    ({"_birthDate": {"id": "b1"}}, "Patient.birthDate"),  # a primitive without value whose companion holds an id
    ({"name": [{"given": ["A", None], "_given": [None, {"id": "g1"}]}]}, "Patient.name[0].given[1]"),
])
def test_ele_1(elements, path):
    assert found(patient(**elements)) == {("ele-1", path, "error")}


def test_ele_1_holds_for_a_primitive_with_extensions_only():
    extended = {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}
    assert found(patient(_birthDate=extended, name=[{"given": [None], "_given": [extended]}])) == set()


def test_ext_1_needs_a_value_or_extensions_not_both():
    both = {"url": "http://example.org/x", "valueString": "a",
            "extension": [{"url": "http://example.org/y", "valueString": "b"}]}
    assert found(patient(extension=[both])) == {("ext-1", "Patient.extension[0]", "error")}


def test_dom_2_no_nested_contained():
    nested = organization("o1", contained=[organization("o2")])
    resource = patient(contained=[nested], managingOrganization={"reference": "#o1"})
    assert ("dom-2", "Patient", "error") in found(resource)


@pytest.mark.parametrize("elements", [
    {"managingOrganization": {"reference": "#o1"}},
    {"text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><a href="#o1">org</a></div>'}},
])
def test_dom_3_a_contained_resource_referenced_from_the_resource(elements):
    assert found(patient(contained=[organization("o1")], **elements)) == set()


def test_dom_3_a_contained_resource_referring_to_its_container_or_reached_through_another():
    to_container = organization("o1", partOf={"reference": "#"})
    reached = [organization("o2", partOf={"reference": "#o3"}), organization("o3")]
    assert found(patient(contained=[to_container])) == set()
    assert found(patient(contained=reached, managingOrganization={"reference": "#o2"})) == set()


def test_dom_3_an_unreferenced_contained_resource():
    resource = patient(contained=[organization("o1"), organization("o2", partOf={"reference": "#o1"})])
    assert found(resource) == {("dom-3", "Patient.contained[0]", "error"), ("dom-3", "Patient.contained[1]", "error")}


def test_dom_4_and_dom_5_no_version_nor_security_label_in_a_contained_resource():
    meta = {"versionId": "2", "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                            "code": "R"}]}
    resource = patient(contained=[organization("o1", meta=meta)], managingOrganization={"reference": "#o1"})
    assert found(resource) == {("dom-4", "Patient", "error"), ("dom-5", "Patient", "error")}


def test_dom_6_a_warning_for_a_resource_without_narrative_but_not_for_a_contained_one():
    resource = {"resourceType": "Patient", "contained": [organization("o1")],
                "managingOrganization": {"reference": "#o1"}}
    assert [(i.key, i.path, i.severity) for i in validate_resource(resource, invariants=True)] == [
        ("dom-6", "Patient", "warning")]


def test_ref_1_a_local_reference_names_a_contained_resource():
    assert found(patient(managingOrganization={"reference": "#nowhere"})) == {
        ("ref-1", "Patient.managingOrganization", "error")}


def test_ref_1_from_a_contained_resource_looks_in_its_container():
    resource = patient(contained=[organization("o1", partOf={"reference": "#o2"}), organization("o2")],
                       managingOrganization={"reference": "#o1"})
    assert found(resource) == set()


@pytest.mark.parametrize("resource, expected", [
    (patient(contact=[{"gender": "female"}]), ("pat-1", "Patient.contact[0]", "error")),
    (patient(contact=[{"name": {"family": "M"}, "period": {"start": "2020-02-01", "end": "2020-01-01"}}]),
     ("per-1", "Patient.contact[0].period", "error")),
    ({"resourceType": "RiskAssessment", "text": NARRATIVE, "status": "final", "subject": {"reference": "Patient/1"},
      "prediction": [{"probabilityDecimal": 101}]}, ("ras-2", "RiskAssessment.prediction[0]", "error")),
    ({"resourceType": "Observation", "text": NARRATIVE, "status": "final", "code": {"text": "weight"},
      "valueQuantity": {"value": 80, "unit": "kg"}, "dataAbsentReason": {"text": "asked"}},
     ("obs-6", "Observation", "error")),
    (patient(multipleBirthInteger=2, contact=[{"name": {"family": "M"}}],
             extension=[{"url": "http://example.org/q", "valueQuantity": {"value": 1, "code": "mg"}}]),
     ("qty-3", "Patient.extension[0].valueQuantity", "error")),
])
def test_invariants_of_a_type_and_its_datatypes(resource, expected):
    assert found(resource) == {expected}


def test_an_invariant_fhirpathpy_cannot_evaluate_on_the_data_reports_nothing():
    # rng-2 compares two Quantities (low <= high), which fhirpathpy 2.2.4 cannot
    bad_range = {"low": {"value": 5, "unit": "mg"}, "high": {"value": 1, "unit": "mg"}}
    resource = patient(extension=[{"url": "http://example.org/r", "valueRange": bad_range}])
    assert found(resource) == set()


def test_unsupported_invariants_are_listed():
    assert set(unsupported_invariants()) == {"ctm-1", "opd-3"}  # resolve(), memberOf()
    assert "resolve()" in unsupported_invariants()["ctm-1"]


def test_each_correction_replaces_a_published_r4_expression():
    vital_signs = [sd for chain in profiles_by_code().values() for sd in chain]  # vs-1
    published = {c.get("expression") for sd in [*structure_definitions().values(), *vital_signs]
                 for element in sd["snapshot"]["element"] for c in element.get("constraint", ())}
    assert set(CORRECTED) <= published


def test_duplicate_element_ids():
    resource = patient(id="x1", name=[{"id": "x1", "family": "A"}, {"id": "n", "family": "B"}],
                       telecom=[{"id": "n", "system": "phone", "value": "1"}])
    assert found(resource) == {("business-rule", "Patient.telecom[0].id", "error")}


def test_issue_diagnostics_name_the_invariant():
    [issue] = [i for i in validate_resource(patient(name=[{"id": "n1"}]), invariants=True)]
    assert issue.as_outcome_issue() == {
        "severity": "error", "code": "invariant", "expression": ["Patient.name[0]"],
        "diagnostics": "Constraint failed: ele-1: 'All FHIR elements must have a @value or children' "
                       "(defined in http://hl7.org/fhir/StructureDefinition/Element)"}
    assert Issue("error", "value", "Patient.id", "bad").as_outcome_issue()["diagnostics"] == "bad"


# -- Bundles -----------------------------------------------------------------------------------------------
def entry(full_url: str, resource: dict) -> dict:
    return {"fullUrl": full_url, "resource": {"text": NARRATIVE, **resource}}


def document(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "document", "timestamp": "2024-01-01T00:00:00Z",
            "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},
            "entry": list(entries)}


def composition(**elements) -> dict:
    return {"resourceType": "Composition", "id": "c1", "status": "final", "type": {"text": "note"},
            "date": "2024-01-01", "title": "Note", "author": [{"reference": "Practitioner/pr1"}], **elements}


BASE = "http://example.org/fhir"
PRACTITIONER = entry(f"{BASE}/Practitioner/pr1", {"resourceType": "Practitioner", "id": "pr1"})


def test_a_document_whose_references_resolve():
    bundle = document(
        entry(f"{BASE}/Composition/c1", composition(subject={"reference": "Patient/p1"}, section=[
            {"title": "A", "entry": [{"reference": "urn:uuid:9d2b4d1b-5f7e-4a1c-9b1e-0b1f6f4c2a11"}]}])),
        entry(f"{BASE}/Patient/p1", {"resourceType": "Patient", "id": "p1"}),
        PRACTITIONER,
        entry("urn:uuid:9d2b4d1b-5f7e-4a1c-9b1e-0b1f6f4c2a11",
              {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}))
    assert validate_resource(bundle, invariants=True) == []


def test_a_document_reference_that_is_not_in_the_bundle():
    bundle = document(entry(f"{BASE}/Composition/c1", composition(subject={"reference": "Patient/p2"})),
                      entry(f"{BASE}/Patient/p1", {"resourceType": "Patient", "id": "p1"}), PRACTITIONER)
    assert found(bundle) == {("not-found", "Bundle.entry[0].resource.subject", "error")}


def test_a_versioned_reference_picks_the_entry_of_that_version():
    observation = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}}
    versions = [entry(f"{BASE}/Observation/o1", {**observation, "meta": {"versionId": v}}) for v in ("1", "2")]
    sections = [{"title": "A", "entry": [{"reference": "Observation/o1/_history/2"}]}]
    assert found(document(entry(f"{BASE}/Composition/c1", composition(section=sections)), PRACTITIONER,
                          *versions)) == set()
    sections = [{"title": "A", "entry": [{"reference": "Observation/o1"}]}]
    assert found(document(entry(f"{BASE}/Composition/c1", composition(section=sections)), PRACTITIONER,
                          *versions)) == {("multiple-matches", "Bundle.entry[0].resource.section[0].entry[0]", "error")}


def test_a_full_url_ending_with_another_type_or_id():
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [entry(f"{BASE}/Patient/p2", {"resourceType": "Patient", "id": "p1"})]}
    assert found(bundle) == {("invalid", "Bundle.entry[0].fullUrl", "error")}


def test_a_full_url_is_absolute():
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [entry("Patient/p1", {"resourceType": "Patient", "id": "p1"})]}
    assert found(bundle) == {("value", "Bundle.entry[0].fullUrl", "error")}


def test_bundle_invariants():
    basic = {"resourceType": "Basic", "text": NARRATIVE, "code": {"text": "x"}}
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"fullUrl": "urn:uuid:9d2b4d1b-5f7e-4a1c-9b1e-0b1f6f4c2a11", "resource": basic}]}
    assert found(bundle) == {("bdl-3", "Bundle", "error")}  # a transaction's entries have a request


# -- the checks evaluated in Python read as their expressions -------------------------------------------------
class _Context:
    def __init__(self, data: dict, root: dict) -> None:
        self.data, self.root = data, root


_CONTAINER = {"resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "o1"}]}
_NARRATED = {"resourceType": "Basic", "text": {"div": "<div/>"}}


def _bundle(kind: str, *entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


# key -> the values to check, each (value, its %rootResource when not the value itself or _CONTAINER)
NATIVE_CASES = {
    "ele-1": [({"id": "a"}, None), ({"id": "a", "family": "b"}, None)],
    "ext-1": [({"url": "u"}, None), ({"url": "u", "valueString": "a"}, None),
              ({"url": "u", "extension": [{"url": "v"}]}, None),
              ({"url": "u", "valueString": "a", "extension": [{"url": "v"}]}, None)],
    "dom-2": [(_CONTAINER, None), ({"resourceType": "Patient", "contained": [_CONTAINER]}, None)],
    "dom-4": [(_CONTAINER, None), ({"resourceType": "Patient", "contained": [
        {"resourceType": "Basic", "meta": {"lastUpdated": "2020-01-01T00:00:00Z"}}]}, None)],
    "dom-5": [(_CONTAINER, None), ({"resourceType": "Patient", "contained": [
        {"resourceType": "Basic", "meta": {"security": [{"code": "R"}]}}]}, None)],
    "dom-6": [(_CONTAINER, None), (_NARRATED, None), ({"resourceType": "Basic"}, _CONTAINER)],
    "ref-1": [({"reference": r}, None) for r in ("#o1", "#o2", "#", "Patient/1")] + [({"display": "x"}, None)],
    "bdl-3": [(_bundle("batch", {"request": {}}, {}), None), (_bundle("collection", {}), None),
              (_bundle("transaction", {"request": {}}), None)],
    "bdl-4": [(_bundle("history", {"response": {}}), None), (_bundle("collection", {"response": {}}), None)],
    "bdl-5": [({"fullUrl": "urn:x"}, None), ({"request": {}}, None)],
    "bdl-7": [(_bundle("collection", {"fullUrl": "a"}, {"fullUrl": "a"}), None),
              (_bundle("collection", *({"fullUrl": "a", "resource": {"meta": {"versionId": v}}} for v in "12")), None),
              (_bundle("history", {"fullUrl": "a"}, {"fullUrl": "a"}), None)],
    "bdl-8": [({"fullUrl": "http://a/Patient/1/_history/1"}, None), ({"fullUrl": "http://a/Patient/1"}, None),
              ({}, None)],
}
_NODE_TYPES = {"ele-1": "HumanName", "ext-1": "Extension", "ref-1": "Reference", "bdl-5": "Bundle.entry",
               "bdl-8": "Bundle.entry"}


@pytest.mark.parametrize("key", sorted(NATIVE))
def test_a_native_check_agrees_with_fhirpathpy(key):
    expression = next(c.expression for c in all_constraints() if c.key == key)
    results = set()
    for value, root in NATIVE_CASES[key]:
        data = value if "resourceType" in value else _CONTAINER
        context = _Context(data, root or data)
        expected = compiled(expression)(ResourceNode.create_node(value, _NODE_TYPES.get(key)),
                                        {"resource": context.data, "rootResource": context.root})
        assert [NATIVE[key](value, context)] == expected, value
        results.update(expected)
    assert results == {True, False}  # each check seen to hold and to fail
