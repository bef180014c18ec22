"""$validate at system level and on every R4 resource type, stored here or not: what integration testers send
their resources to."""
from __future__ import annotations

import pytest
import requests

from fhir_server.registry import RESOURCES

from .client import HEADERS, JSON

XML = "application/fhir+xml"
VALIDATE = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
# a hemoglobin (not a vital sign: those must also conform to the R4 vital-signs profiles)
OBSERVATION = {"resourceType": "Observation", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
               "valueQuantity": {"value": 14.2, "unit": "g/dL", "system": "http://unitsofmeasure.org",
                                 "code": "g/dL"}}
QUESTIONNAIRE = {"resourceType": "Questionnaire", "item": [{"linkId": "1", "text": "Weight?", "type": "weight"}]}
GROUP_XML = b"""<Group xmlns="http://hl7.org/fhir"><type value="person"/><actual value="true"/>
  <name value="Ward 3 patients"/></Group>"""
LOCATION_XML = b"""<Location xmlns="http://hl7.org/fhir"><status value="closed"/><name value="Ward 3"/></Location>"""


def issues(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome["issue"]


def errors(response: requests.Response) -> list[dict]:
    return [i for i in issues(response) if i["severity"] in ("error", "fatal")]


def no_problems(response: requests.Response) -> bool:
    """Valid R4: no issue but dom-6, the best-practice warning of a resource without a narrative, as the
    official validator and HAPI give it."""
    return [(i["severity"], i["code"], i["diagnostics"].split(":")[:2]) for i in issues(response)] == [
        ("warning", "invariant", ["Constraint failed", " dom-6"])]


@pytest.fixture()
def nothing_written(db):
    """Asserts the test stored no resource: no collection for a type not stored, the stored types' counts
    unchanged (the activity history records the calls, as every interaction)."""
    before = {name: db[name].count_documents({}) for name in RESOURCES if name != "AuditEvent"}
    collections = set(db.list_collection_names())
    yield
    assert {name: db[name].count_documents({}) for name in before} == before
    assert set(db.list_collection_names()) - collections <= {"AuditEvent"}


def test_system_level_validates_any_type_from_the_resource_itself(http, base, nothing_written):
    assert no_problems(http.post(f"{base}/$validate", json=OBSERVATION, headers=HEADERS))
    bad = errors(http.post(f"{base}/$validate", json=QUESTIONNAIRE, headers=HEADERS))
    where = {(i["code"], i["expression"][0]) for i in bad}
    assert where == {("code-invalid", "Questionnaire.item[0].type"), ("required", "Questionnaire.status")}, bad
    assert all(i["location"] == i["expression"] and i["diagnostics"] for i in bad)


def test_system_level_takes_a_parameters_body_with_mode_and_profile(http, base, nothing_written):
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {**OBSERVATION, "status": "done"}},
        {"name": "mode", "valueCode": "update"},
        {"name": "profile", "valueUri": "https://example.org/StructureDefinition/unknown"}]}
    found = {(i["code"], (i.get("expression") or [""])[0]) for i in
             errors(http.post(f"{base}/$validate", json=parameters, headers=HEADERS))}
    assert found == {("code-invalid", "Observation.status"), ("required", "Observation.id"), ("not-found", "")}
    empty = http.post(f"{base}/$validate", json={"resourceType": "Parameters", "parameter": []}, headers=HEADERS)
    assert empty.status_code == 400 and "needs a resource" in empty.text


@pytest.mark.parametrize("resource_type", ["Group", "Location"])
def test_type_level_on_types_not_stored_in_json_and_xml(http, base, resource_type, nothing_written):
    assert resource_type not in RESOURCES
    valid = {"Group": {"resourceType": "Group", "type": "person", "actual": True},
             "Location": {"resourceType": "Location", "status": "active", "name": "Ward 3"}}[resource_type]
    assert no_problems(http.post(f"{base}/{resource_type}/$validate", json=valid, headers=HEADERS))
    invalid = {**valid, "bogus": 1}
    assert [(i["code"], i["expression"]) for i in errors(
        http.post(f"{base}/{resource_type}/$validate", json=invalid, headers=HEADERS))] == [
        ("structure", [f"{resource_type}.bogus"])]
    xml = {"Group": GROUP_XML, "Location": LOCATION_XML}[resource_type]
    answer = http.post(f"{base}/{resource_type}/$validate", data=xml, headers={"Content-Type": XML, "Accept": JSON})
    if resource_type == "Group":
        assert no_problems(answer)
    else:  # closed is not a Location status (active | suspended | inactive)
        assert [(i["code"], i["expression"]) for i in errors(answer)] == [("code-invalid", ["Location.status"])]
    in_xml = http.post(f"{base}/{resource_type}/$validate", data=xml, headers={"Content-Type": XML, "Accept": XML})
    assert in_xml.status_code == 200 and in_xml.headers["Content-Type"].startswith(XML)
    assert b"<OperationOutcome" in in_xml.content


def test_a_body_of_another_type_is_an_error_issue(http, base, nothing_written):
    found = errors(http.post(f"{base}/Group/$validate", json=OBSERVATION, headers=HEADERS))
    assert [(i["code"], i["expression"]) for i in found] == [("invalid", ["Observation.resourceType"])]
    assert "Expected a Group resource, found Observation" in found[0]["diagnostics"]


def test_what_is_not_an_r4_type_or_not_stored_answers_404(http, base):
    for url in (f"{base}/Fhirball/$validate", f"{base}/Group/g1/$validate"):
        response = http.post(url, json={"resourceType": "Group", "type": "person", "actual": True}, headers=HEADERS)
        assert response.status_code == 404, url
        assert response.json()["issue"][0]["code"] == "not-supported"
    assert "not a FHIR R4 resource type" in http.post(f"{base}/Fhirball/$validate", json={}, headers=HEADERS).text


def test_validate_needs_a_token_as_every_interaction(base):
    assert requests.post(f"{base}/$validate", json=OBSERVATION, headers=HEADERS).status_code == 401
    assert requests.post(f"{base}/Group/$validate", json=OBSERVATION, headers=HEADERS).status_code == 401


def test_the_capability_statement_declares_validate_everywhere(http, base):
    rest = http.get(f"{base}/metadata", headers={"Accept": JSON}).json()["rest"][0]
    [system] = [o for o in rest["operation"] if o["name"] == "validate"]
    assert system["definition"] == VALIDATE and "any R4 resource type" in system["documentation"]
    for resource in rest["resource"]:
        assert {"name": "validate", "definition": VALIDATE} in resource["operation"], resource["type"]


def test_a_vital_sign_is_held_to_the_r4_vital_signs_profiles(http, base, nothing_written):
    """observation-vitalsigns.html: a vital sign SHALL conform to its profile (category, subject, effective)."""
    weight = {**OBSERVATION, "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
              "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
    found = {(i["code"], i["expression"][0]) for i in errors(http.post(f"{base}/$validate", json=weight,
                                                                       headers=HEADERS))}
    assert {("required", "Observation.category"), ("required", "Observation.subject"),
            ("required", "Observation.effective[x]")} <= found, found
