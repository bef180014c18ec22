"""Rules the R4 definitions state in prose between values: Attachment, Identifier, Questionnaire, CodeSystem,
SearchParameter and CapabilityStatement (validation/consistency.py)."""
from __future__ import annotations

import base64
import hashlib

import pytest

from validation import validate_resource

DATA = base64.b64encode(b"help i'm a bug").decode()  # 14 bytes, as in HL7 test attachment-with-wrong-size.json
SHA1 = base64.b64encode(hashlib.sha1(b"help i'm a bug").digest()).decode()


def found(resource: dict) -> list[tuple[str, str, str]]:
    return [(i.severity, i.code, i.path) for i in validate_resource(resource)]


def media(**attachment) -> dict:
    return {"resourceType": "Media", "status": "completed", "content": {"contentType": "text/plain", **attachment}}


def test_an_attachment_size_is_the_size_of_its_data():
    assert found(media(data=DATA, size=14, hash=SHA1)) == []
    [issue] = validate_resource(media(data=DATA, size=100))
    assert (issue.severity, issue.code, issue.path) == ("error", "value", "Media.content.size")
    assert "100" in issue.message and "14 bytes" in issue.message


def test_an_attachment_hash_other_than_the_sha1_of_its_data_is_warned():
    # a warning: the official DiagnosticReport-example-pgx.json has a hexadecimal SHA-1
    [issue] = validate_resource(media(data=DATA, hash=base64.b64encode(b"x" * 20).decode()))
    assert (issue.severity, issue.path) == ("warning", "Media.content.hash") and SHA1 in issue.message


def test_size_and_hash_without_data_are_not_checked():
    assert found(media(url="http://example.org/doc.pdf", size=100, hash=SHA1)) == []


def test_an_identifier_of_system_rfc_3986_is_a_uri():
    organization = {"resourceType": "Organization", "identifier": [
        {"system": "urn:ietf:rfc:3986", "value": "urn:oid:2.16.840.1.113883.19.5"},
        {"system": "urn:ietf:rfc:3986", "value": "2.16.840.1.113883.19.5"}]}  # HL7 test cs-bad-oid.xml
    # a warning only: the official Organization-2.16.840.1.113883.19.5.json has the bare OID
    assert found(organization) == [("warning", "value", "Organization.identifier[1].value")]


def questionnaire(*items) -> dict:
    return {"resourceType": "Questionnaire", "status": "draft", "item": list(items)}


def item(link_id: str, *children, when: str | None = None, kind: str = "boolean") -> dict:
    result = {"linkId": link_id, "type": kind}
    if when:
        result["enableWhen"] = [{"question": when, "operator": "exists", "answerBoolean": True}]
    if children:
        result["item"] = list(children)
    return result


def test_enable_when_names_an_item_before_after_or_above():
    resource = questionnaire(item("q1"), item("g", item("q2", when="q1"), item("q3", when="g2"), kind="group"),
                             item("g2", item("q4", when="g"), kind="group"))
    assert found(resource) == []


@pytest.mark.parametrize("resource, path, what", [
    # HL7 test questionnaire-enableWhen-test-invalid.xml: a group enabled by its own question
    (questionnaire(item("group", item("condition"), when="condition", kind="group")),
     "Questionnaire.item[0].enableWhen[0].question", "one of the item's own items"),
    (questionnaire(item("g", item("g1", item("deep")), when="deep", kind="group")),
     "Questionnaire.item[0].enableWhen[0].question", "one of the item's own items"),
    (questionnaire(item("q1", when="q1")), "Questionnaire.item[0].enableWhen[0].question", "the item itself"),
    (questionnaire(item("q1"), item("g", item("q2", when="nowhere"), kind="group")),
     "Questionnaire.item[1].item[0].enableWhen[0].question", "no item of the Questionnaire"),
])
def test_enable_when_names_an_item_that_can_govern_this_one(resource, path, what):
    [issue] = validate_resource(resource)
    assert (issue.severity, issue.code, issue.path) == ("error", "value", path) and what in issue.message


def test_enable_when_in_a_contained_questionnaire():
    response = {"resourceType": "QuestionnaireResponse", "status": "completed", "questionnaire": "#q",
                "contained": [{**questionnaire(item("q1", when="q9")), "id": "q"}]}
    assert found(response) == [("error", "value",
                                "QuestionnaireResponse.contained[0].item[0].enableWhen[0].question")]


def code_system(**elements) -> dict:
    return {"resourceType": "CodeSystem", "status": "draft", **elements}


def test_a_supplement_has_the_content_supplement():
    # HL7 test supplement-cs.json
    assert found(code_system(content="supplement", supplements="http://loinc.org",
                             concept=[{"code": "x", "designation": [{"value": "y"}]}])) == []
    assert found(code_system(content="complete", supplements="http://loinc.org")) == [
        ("error", "value", "CodeSystem.content")]
    assert found(code_system(content="supplement")) == [("error", "required", "CodeSystem.supplements")]


def test_a_code_system_with_content_not_present_has_no_concept():
    # HL7 test cs-bad-oid.xml
    assert found(code_system(content="not-present")) == []
    assert found(code_system(content="not-present", concept=[{"code": "a"}])) == [
        ("error", "value", "CodeSystem.concept")]
    assert found(code_system(content="example", concept=[{"code": "a"}])) == []


def search_parameter(**elements) -> dict:
    return {"resourceType": "SearchParameter", "url": "http://example.org/SearchParameter/x", "name": "x",
            "status": "draft", "description": "x", "code": "name", "expression": "Organization.name",
            "derivedFrom": "http://hl7.org/fhir/SearchParameter/Organization-name", **elements}


def test_a_search_parameter_is_consistent_with_the_core_one_it_derives_from():
    # HL7 tests sp-diff-expression.json (valid), sp-diff-type.json, sp-diff-base.json
    assert found(search_parameter(type="string", base=["Organization"])) == []
    assert found(search_parameter(type="token", base=["Organization"])) == [("error", "value", "SearchParameter.type")]
    assert found(search_parameter(type="string", base=["Organization", "Patient"])) == [
        ("error", "value", "SearchParameter.base[1]")]
    unknown = search_parameter(type="token", base=["Patient"], derivedFrom="http://example.org/SearchParameter/y")
    assert found(unknown) == []  # only the core search parameters are known


def test_a_capability_statement_search_parameter_of_another_type_than_its_definition_is_refused_but_stored():
    # HL7 test capstmt.json; writes tolerate it, as three official CapabilityStatements have such mismatches
    parameter = {"name": "clinical-status", "type": "token",
                 "definition": "http://hl7.org/fhir/SearchParameter/AllergyIntolerance-clinical-status|4.0.1"}
    statement = {"resourceType": "CapabilityStatement", "status": "active", "date": "2024", "kind": "instance",
                 "fhirVersion": "4.0.1", "format": ["json"], "implementation": {"description": "x"},
                 "rest": [{"mode": "server", "resource": [{"type": "AllergyIntolerance",
                                                           "searchParam": [parameter]}]}]}
    assert found(statement) == []
    parameter["type"] = "date"
    assert found(statement) == [("error", "value", "CapabilityStatement.rest[0].resource[0].searchParam[0].type")]
    assert [i.severity for i in validate_resource(statement, lenient=True)] == ["warning"]


def _parameterised(expression: dict, **value_set) -> dict:
    """A ValueSet with the parameter p-inactive (HL7 tools IG) and a filter valued by `expression`."""
    return {"resourceType": "ValueSet", "status": "active", **value_set,
            "extension": [{"url": "http://hl7.org/fhir/tools/StructureDefinition/valueset-parameter",
                           "extension": [{"url": "name", "valueCode": "p-inactive"}]}],
            "compose": {"include": [{"system": "http://snomed.info/sct", "filter": [{
                "property": "inactive", "op": "=", "_value": {"extension": [{
                    "url": "http://hl7.org/fhir/StructureDefinition/cqf-expression",
                    "valueExpression": expression}]}}]}]}}


@pytest.mark.parametrize("expression, message", [
    ({"language": "text/cql", "expression": "%p-inactive"}, "language must be 'text/fhirpath', not 'text/cql'"),
    ({"language": "text/fhirpath", "expression": "$ and %p-inactive"}, "is not valid FHIRPath"),
    ({"language": "text/fhirpath", "expression": "%p-inactive3"}, "does not declare: p-inactive3"),
])
def test_a_parameterised_value_set_filter_expression_is_fhirpath_naming_declared_parameters(expression, message):
    # HL7 tests vs-params-2 to -4 (tx-advanced): the official validator's rules for ValueSet parameters
    [issue] = validate_resource(_parameterised(expression))
    assert (issue.severity, issue.code, issue.path) == \
        ("error", "value", "ValueSet.compose.include[0].filter[0].value.extension[0].valueExpression")
    assert message in issue.message and issue.tolerated
    good = {"language": "text/fhirpath", "expression": "%p-inactive and %resource.exists()"}
    assert validate_resource(_parameterised(good)) == []


def test_a_composite_search_parameter_has_two_components_or_more():
    # HL7 test sp-composite.json; search-param-type: "combines a search on two values together"
    composite = {"resourceType": "SearchParameter", "url": "http://example.org/SearchParameter/c", "name": "c",
                 "status": "draft", "description": "c", "code": "c", "base": ["Observation"], "type": "composite",
                 "expression": "Observation"}
    part = {"definition": "http://hl7.org/fhir/SearchParameter/clinical-code", "expression": "code"}
    assert found(composite) == [("error", "required", "SearchParameter.component")]
    assert found({**composite, "component": [part]}) == [("error", "required", "SearchParameter.component")]
    assert found({**composite, "component": [part, {**part, "expression": "value"}]}) == []


def test_a_code_system_property_of_the_fhir_concept_properties_has_their_type():
    # HL7 test cs-bad-props.json; concept-properties: "notSelectable ... Property type is boolean"
    def properties(*declared):
        return code_system(content="complete", property=list(declared))
    uri = "http://hl7.org/fhir/concept-properties#"
    assert found(properties({"code": "ns", "uri": uri + "notSelectable", "type": "boolean"},
                            {"code": "dep", "uri": uri + "deprecated", "type": "dateTime"},
                            {"code": "p", "uri": uri + "parent", "type": "code"},
                            {"code": "own", "uri": "http://example.org/p#x", "type": "dateTime"},
                            {"code": "synonym", "type": "decimal"})) == []
    assert found(properties({"code": "ns", "uri": uri + "notSelectable", "type": "dateTime"},
                            {"code": "d", "uri": uri + "deprecated", "type": "code"})) == [
        ("error", "value", "CodeSystem.property[0].type"), ("error", "value", "CodeSystem.property[1].type")]


def profile(*paths: str, type_name: str = "Observation", derivation: str = "constraint") -> dict:
    return {"resourceType": "StructureDefinition", "url": "http://example.org/StructureDefinition/p", "name": "P",
            "status": "draft", "kind": "resource", "abstract": False, "type": type_name, "derivation": derivation,
            "baseDefinition": f"http://hl7.org/fhir/StructureDefinition/{type_name}",
            "differential": {"element": [{"id": path, "path": path} for path in paths]}}


def test_a_profile_constrains_elements_of_its_type():
    assert found(profile("Observation", "Observation.value[x]", "Observation.valueQuantity",
                         "Observation.valueQuantity.code", "Observation.code.coding.system",
                         "Observation.component.value[x]", "Observation.effective[x].extension",
                         "Observation.extension.value[x]", "Observation.status.extension")) == []
    assert found(profile("Questionnaire.item.item.item.linkId", type_name="Questionnaire")) == []  # contentReference
    # HL7 test obs-mz.json: 'Bla' is no type of value[x]
    assert found(profile("Observation", "Observation.valueBla", "Observation.code.codingg", "Patient.name")) == [
        ("error", "value", "StructureDefinition.differential.element[1].path"),
        ("error", "value", "StructureDefinition.differential.element[2].path"),
        ("error", "value", "StructureDefinition.differential.element[3].path")]


def test_a_specialization_defines_its_own_elements():
    logical = profile("Observation", "Observation.newElement", derivation="specialization")
    assert ("error", "value", "StructureDefinition.differential.element[1].path") not in found(logical)


def value_set(*filters: dict, system: str = "http://terminology.hl7.org/CodeSystem/ex-tooth") -> dict:
    return {"resourceType": "ValueSet", "status": "draft",
            "compose": {"include": [{"system": system, "filter": list(filters)}]}}


def test_a_filter_on_a_boolean_property_has_the_value_true_or_false():
    # HL7 test vs-bad-props.json; notSelectable is a FHIR defined concept property, of type boolean
    assert found(value_set({"property": "notSelectable", "op": "=", "value": "true"},
                           {"property": "parent", "op": "=", "value": "1"},
                           {"property": "concept", "op": "is-a", "value": "1"},
                           {"property": "other", "op": "=", "value": "1"})) == []
    assert found(value_set({"property": "notSelectable", "op": "=", "value": "1"})) == [
        ("error", "value", "ValueSet.compose.include[0].filter[0].value")]


def test_a_filter_exists_has_the_value_true_or_false():
    # ValueSet.compose.include.filter.value: "one of the values (true and false), when the operation is 'exists'"
    assert found(value_set({"property": "parent", "op": "exists", "value": "false"})) == []
    assert found(value_set({"property": "parent", "op": "exists", "value": "yes"})) == [
        ("error", "value", "ValueSet.compose.include[0].filter[0].value")]


def test_a_filter_on_a_property_the_code_system_declares():
    # v3-ActCode declares notSelectable (boolean) and status (code)
    system = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert found(value_set({"property": "status", "op": "=", "value": "active"},
                           {"property": "notSelectable", "op": "=", "value": "x"}, system=system)) == [
        ("error", "value", "ValueSet.compose.include[0].filter[1].value")]
