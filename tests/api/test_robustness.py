"""Hostile or odd input gets a 4xx OperationOutcome (or is stored faithfully), never a 500."""
from __future__ import annotations

import json

import pytest

JSON = "application/fhir+json"
XML = "application/fhir+xml"

# (body, the status it must get): 201 for valid R4 (which must then read back as sent), 422 for JSON that is
# no valid resource (FHIR's status for a resource that fails validation), 400 for what is not a JSON object
ODD_JSON_BODIES = [
    (b'{"resourceType": "Patient", "name": [{"family": "\\u0000nul"}]}', 422),
    (b'{"resourceType": "Patient", "birthDate": 19700101}', 422),
    (b'{"resourceType": "Patient", "multipleBirthInteger": 1e400}', 422),
    (b'{"resourceType": "Patient", "multipleBirthInteger": 99999999999999999999999}', 422),
    (b'{"resourceType": "Patient", "$where": "sleep(1000)"}', 422),
    (b'{"resourceType": "Patient", "name": [{"family": {"$gt": ""}}]}', 422),
    (b'{"resourceType": "Patient", "a.b": 1}', 422),
    (b'{"resourceType": "Patient", "extension": [' + b'{"url": "http://x", "extension": [' * 150
     + b'{"url": "http://x", "valueString": "deep"}' + b"]}" * 150 + b"]}", 201),
    (b"[" * 100000 + b"]" * 100000, 400),
    (b'{"resourceType": "Patient", "contained": [{"resourceType": "Patient", "contained": []}]}', 422),
    (b'"just a string"', 400),
    (b"\xef\xbb\xbf{\"resourceType\": \"Patient\"}", 201),
]


@pytest.mark.parametrize(("body", "expected"), ODD_JSON_BODIES, ids=range(len(ODD_JSON_BODIES)))
def test_odd_json_gets_the_status_r4_calls_for_never_a_server_error(http, base, body, expected):
    response = http.post(f"{base}/Patient", data=body, headers={"Content-Type": JSON, "Accept": JSON})
    assert response.status_code == expected, response.text
    assert response.headers["Content-Type"].startswith(JSON)
    if expected != 201:
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["severity"] == "error"
        assert outcome["issue"][0].get("diagnostics"), outcome  # it says what is wrong
    else:
        stored = http.get(response.headers["Location"].rsplit("/_history", 1)[0], headers={"Accept": JSON})
        assert stored.status_code == 200
        sent = json.loads(body.decode("utf-8-sig"))
        assert {k: v for k, v in stored.json().items() if k not in ("id", "meta")} == sent


ODD_XML_BODIES = [
    b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]>"
    b"<Patient xmlns='http://hl7.org/fhir'><name><family value='&lol2;'/></name></Patient>",
    b"<Patient xmlns='http://hl7.org/fhir'><xi:include xmlns:xi='http://www.w3.org/2001/XInclude' "
    b"href='file:///etc/passwd'/></Patient>",
    b"<Patient xmlns='http://example.org'/>",
    b"<Observation xmlns='http://hl7.org/fhir'/>",
    b"<Patient xmlns='http://hl7.org/fhir'><gender value='robot'/></Patient>",
    b"<Patient xmlns='http://hl7.org/fhir'>" + b"<extension url='http://x'>" * 300 + b"</extension>" * 300
    + b"</Patient>",
    b"\x00\x01\x02",
]


@pytest.mark.parametrize("body", ODD_XML_BODIES, ids=range(len(ODD_XML_BODIES)))
def test_odd_xml_is_refused_with_an_outcome(http, base, body):
    response = http.post(f"{base}/Patient", data=body, headers={"Content-Type": XML, "Accept": JSON})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "root:" not in response.text


@pytest.mark.parametrize("path", ["/Patient/%00", "/Patient/..%2F..%2Fetc", "/Patient/a/_history/-1",
                                  "/Patient/a/_history/99999999999999999999999", "/%24where",
                                  "/Patient/_history?_since=2020-01-01T00:00:00%2B99:00",
                                  "/Patient?_format=%00"])
def test_odd_urls_are_4xx(http, base, path):
    response = http.get(base + path)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("headers", [{"If-Match": "garbage"}, {"If-Match": 'W/"999999999999999999999"'},
                                     {"Prefer": "return=\x7f"}, {"Content-Type": "application/fhir+json; charset=latin-1"}])
def test_odd_headers_are_handled(http, base, headers):
    created = http.post(f"{base}/Patient", json={"resourceType": "Patient"}, headers={"Content-Type": JSON}).json()
    response = http.put(f"{base}/Patient/{created['id']}", json=created, headers={"Content-Type": JSON, **headers})
    assert response.status_code < 500, response.text
