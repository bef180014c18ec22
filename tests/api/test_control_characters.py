"""A string holding a control character (below U+0020, but tab, CR and LF) is refused with 422 naming its
element, in JSON; FHIR XML cannot carry one at all (400); nothing is stored. Over HTTP against the server."""
from __future__ import annotations

import uuid

import pytest

from fhir_server.storage.resources import ResourceStore

JSON = {"Content-Type": "application/fhir+json"}
XML = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"}


def stored(http, base, family: str) -> int:
    return http.get(f"{base}/Patient", params={"family:exact": family}).json()["total"]


@pytest.mark.parametrize("character", ["\u0000", "\u0007", "\u001b"])
def test_a_control_character_is_refused_naming_the_element(http, base, character):
    family = f"Ctl{uuid.uuid4().hex[:8]}"
    resource = {"resourceType": "Patient", "name": [{"family": f"{family}{character}"}]}
    refused = http.post(f"{base}/Patient", json=resource, headers=JSON)
    assert refused.status_code == 422, refused.text
    issues = refused.json()["issue"]
    assert [issue["expression"] for issue in issues] == [["Patient.name[0].family"]]
    assert f"U+{ord(character):04X}" in issues[0]["diagnostics"]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": resource, "request": {"method": "POST", "url": "Patient"}}]}
    assert http.post(base, json=bundle, headers=JSON).status_code == 422
    assert stored(http, base, family) == 0 and stored(http, base, f"{family}{character}") == 0


@pytest.mark.parametrize("reference", ["&#0;", "&#x1;", "\u0002"])
def test_fhir_xml_cannot_carry_one(http, base, reference):
    family = f"Ctl{uuid.uuid4().hex[:8]}"
    body = f'<Patient xmlns="http://hl7.org/fhir"><name><family value="{family}{reference}"/></name></Patient>'
    refused = http.post(f"{base}/Patient", data=body.encode("utf-8"), headers=XML)
    assert refused.status_code == 400, refused.text
    assert "not well-formed" in refused.json()["issue"][0]["diagnostics"]
    assert stored(http, base, family) == 0


def test_tab_and_line_breaks_are_kept(http, base):
    family = f"Tab{uuid.uuid4().hex[:8]}"
    created = http.post(f"{base}/Patient", headers=JSON, json={
        "resourceType": "Patient", "name": [{"family": family, "text": f"Jean\t{family}\r\nline 2\n"}]})
    assert created.status_code == 201, created.text
    assert http.get(created.headers["Location"]).json()["name"][0]["text"] == f"Jean\t{family}\r\nline 2\n"
    body = f'<Patient xmlns="http://hl7.org/fhir"><name><text value="a&#9;b&#10;c"/><family value="{family}x"/>' \
           f'</name></Patient>'
    created = http.post(f"{base}/Patient", data=body, headers=XML)
    assert created.status_code == 201, created.text
    assert created.json()["name"][0]["text"] == "a\tb\nc"


def test_one_stored_before_they_were_refused_is_served_in_json_only(http, base, db):
    resource_id = str(uuid.uuid4())
    ResourceStore(db).write("Patient", resource_id, {"resourceType": "Patient", "id": resource_id,
                                                     "name": [{"family": "Legacy\u0000"}]}, 0, "POST")
    as_xml = http.get(f"{base}/Patient/{resource_id}", headers={"Accept": "application/fhir+xml"})
    assert as_xml.status_code == 406, as_xml.text
    assert "Patient.name[0].family" in as_xml.text and "FHIR JSON" in as_xml.text
    assert http.get(f"{base}/Patient/{resource_id}").json()["name"][0]["family"] == "Legacy\u0000"


def test_an_outcome_echoing_one_falls_back_to_json(http, base):
    refused = http.post(f"{base}/Patient", data='{"resourceType": "Patient", "a\\u0000b": 1}',
                        headers={**JSON, "Accept": "application/fhir+xml"})
    assert refused.status_code == 422 and refused.headers["Content-Type"].startswith("application/fhir+json")
    assert refused.json()["issue"][0]["expression"] == ["Patient.a\u0000b"]
