"""JSON and XML both ways, _format, Accept negotiation (FHIR R4 http.html#mime-type)."""
from __future__ import annotations

from lxml import etree

JSON, XML = "application/fhir+json", "application/fhir+xml"
NS = "{http://hl7.org/fhir}"
PATIENT_XML = b"""<Patient xmlns="http://hl7.org/fhir">
  <active value="true"/>
  <name><family value="Petit"/><given value="Jean"/><given value="Paul"/></name>
  <gender value="male"/>
  <birthDate value="1970-05-06"/>
</Patient>"""


def test_xml_body_is_stored_and_read_back_as_json(http, base):
    created = http.post(f"{base}/Patient", data=PATIENT_XML, headers={"Content-Type": XML, "Accept": JSON})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["active"] is True
    assert body["name"] == [{"family": "Petit", "given": ["Jean", "Paul"]}]


def test_xml_response_by_accept_and_by_format(http, base):
    created = http.post(f"{base}/Patient", data=PATIENT_XML, headers={"Content-Type": XML}).json()
    for kwargs in ({"headers": {"Accept": XML}}, {"params": {"_format": "xml"}},
                   {"params": {"_format": "application/fhir+xml"}}, {"headers": {"Accept": "application/xml"}}):
        response = http.get(f"{base}/Patient/{created['id']}", **kwargs)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith(XML)
        root = etree.fromstring(response.content)
        assert root.tag == f"{NS}Patient"
        assert [child.tag for child in root][:2] == [f"{NS}id", f"{NS}meta"]  # element order of the spec
        assert root.find(f"{NS}gender").get("value") == "male"


def test_format_parameter_wins_over_accept(http, base):
    response = http.get(f"{base}/metadata", params={"_format": "json"}, headers={"Accept": XML})
    assert response.headers["Content-Type"].startswith(JSON)


def test_default_and_wildcard_accept_give_json(http, base):
    assert http.get(f"{base}/metadata", headers={"Accept": "*/*"}).headers["Content-Type"].startswith(JSON)
    assert http.get(f"{base}/metadata", headers={"Accept": "application/json"}).json()["resourceType"] == \
        "CapabilityStatement"


def test_pretty_output(http, base):
    response = http.get(f"{base}/metadata", params={"_pretty": "true"})
    assert response.text.startswith('{\n  "resourceType"')


def test_errors_come_in_the_requested_format(http, base):
    response = http.get(f"{base}/Patient/unknown-id", headers={"Accept": XML})
    assert response.status_code == 404
    root = etree.fromstring(response.content)
    assert root.tag == f"{NS}OperationOutcome"


def test_xml_with_doctype_is_refused(http, base):
    attack = b"""<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Patient xmlns="http://hl7.org/fhir"><name><family value="&x;"/></name></Patient>"""
    response = http.post(f"{base}/Patient", data=attack, headers={"Content-Type": XML, "Accept": JSON})
    assert response.status_code == 400
    assert "root:" not in response.text


def test_decimals_keep_their_digits(http, base):
    """FHIR decimals are exact: 1.50 and 0.0000001 come back as written, in JSON and XML."""
    body = (b'{"resourceType":"Patient","extension":[{"url":"http://example.org/weight",'
            b'"valueDecimal":1.50},{"url":"http://example.org/tiny","valueDecimal":0.0000001}]}')
    created = http.post(f"{base}/Patient", data=body, headers={"Content-Type": JSON, "Accept": JSON})
    assert created.status_code == 201, created.text
    url = f"{base}/Patient/{created.json()['id']}"
    text = http.get(url, headers={"Accept": JSON}).text
    assert '"valueDecimal":1.50' in text and '"valueDecimal":0.0000001' in text
    xml = http.get(url, headers={"Accept": XML}).text
    assert 'value="1.50"' in xml and 'value="0.0000001"' in xml


def test_accept_with_a_fhir_version_parameter_and_quality_values(http, base):
    response = http.get(f"{base}/metadata", headers={"Accept": "application/fhir+json; fhirVersion=4.0"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith(JSON)
    response = http.get(f"{base}/metadata", headers={"Accept": "application/fhir+xml;fhirVersion=4.0"})
    assert response.headers["Content-Type"].startswith(XML)
    weighted = http.get(f"{base}/metadata",
                        headers={"Accept": "application/fhir+json;q=0.2, application/fhir+xml;q=0.8"})
    assert weighted.headers["Content-Type"].startswith(XML)
    browser = http.get(f"{base}/metadata", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 200
