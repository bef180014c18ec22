"""$validate on type and instance."""
from __future__ import annotations

JSON = "application/fhir+json"
HEADERS = {"Content-Type": JSON, "Accept": JSON}


def test_type_validate_reports_problems_without_storing(http, base, db):
    before = db["Patient"].count_documents({})
    bad = http.post(f"{base}/Patient/$validate", json={"resourceType": "Patient", "gender": "robot"}, headers=HEADERS)
    assert bad.status_code == 200
    issues = bad.json()["issue"]
    assert any(i["severity"] == "error" and i.get("expression") == ["Patient.gender"] for i in issues)
    good = http.post(f"{base}/Patient/$validate", json={"resourceType": "Patient", "gender": "male"}, headers=HEADERS)
    assert [(i["severity"], i["code"]) for i in good.json()["issue"]] == [("warning", "invariant")]  # dom-6
    assert "dom-6" in good.json()["issue"][0]["diagnostics"]
    assert db["Patient"].count_documents({}) == before


def test_validate_takes_a_parameters_resource(http, base):
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient", "birthDate": "1990-02-31x"}},
        {"name": "mode", "valueCode": "create"}]}
    response = http.post(f"{base}/Patient/$validate", json=parameters, headers=HEADERS)
    assert any(i.get("expression") == ["Patient.birthDate"] for i in response.json()["issue"])


def test_instance_validate_checks_the_stored_resource_or_a_proposed_update(http, base):
    created = http.post(f"{base}/Patient", json={"resourceType": "Patient"}, headers=HEADERS).json()
    stored = http.get(f"{base}/Patient/{created['id']}/$validate")
    assert stored.status_code == 200
    assert [i["severity"] for i in stored.json()["issue"]] == ["warning"]  # dom-6: no narrative
    proposed = http.post(f"{base}/Patient/{created['id']}/$validate?mode=update",
                         json={"resourceType": "Patient", "id": "someone-else"}, headers=HEADERS)
    assert any(i["severity"] == "error" for i in proposed.json()["issue"])
    assert http.get(f"{base}/Patient/unknown/$validate").status_code == 404
    assert http.post(f"{base}/Patient/$validate?mode=bogus", json={"resourceType": "Patient"},
                     headers=HEADERS).status_code == 400


def test_without_mode_validate_judges_as_the_official_validator_with_a_mode_as_the_write(http, base):
    vendor = {"resourceType": "Patient", "extension": [{"url": "https://vendor.fr/fhir/ext", "valueString": "x"}],
              "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"> </div>'}}
    strict = http.post(f"{base}/Patient/$validate", json=vendor, headers=HEADERS).json()["issue"]
    assert sorted((i["severity"], i["code"], i["expression"][0]) for i in strict) == [
        ("error", "invariant", "Patient.text.div"), ("error", "structure", "Patient.extension[0]")]
    assert any("could not be found so is not allowed here" in i["diagnostics"] for i in strict)
    lenient = http.post(f"{base}/Patient/$validate?mode=create", json=vendor, headers=HEADERS).json()["issue"]
    assert sorted((i["severity"], i["expression"][0]) for i in lenient) == [
        ("warning", "Patient.extension[0]"), ("warning", "Patient.text.div")]
    created = http.post(f"{base}/Patient", json=vendor, headers=HEADERS)  # what mode=create said
    assert created.status_code == 201, created.text
    read = http.get(f"{base}/Patient/{created.json()['id']}", headers=HEADERS)
    assert read.json()["extension"] == vendor["extension"]
