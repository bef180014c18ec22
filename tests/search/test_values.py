"""Index values computed on write, in the exact representation the query side relies on."""
from __future__ import annotations


import pytest

from fhir_server.search.text import normalise
from fhir_server.search.registry import SEARCHABLE_TYPES
from fhir_server.search.values import date_range, index_fields
from tests.examples import load, official_examples
from validation.definitions import example_path

TYPES = SEARCHABLE_TYPES


def example(name: str) -> dict:
    return load(example_path(name))


def test_normalise():
    assert normalise("  Hélène \t Dupont ") == "helene dupont"
    assert normalise("Straße Ǆ") == "strasse dz"


@pytest.mark.parametrize(("text", "low", "high"), [
    ("2020", "2020-01-01T00:00:00.000Z", "2020-12-31T23:59:59.999Z"),
    ("2020-02", "2020-02-01T00:00:00.000Z", "2020-02-29T23:59:59.999Z"),
    ("2020-03-15", "2020-03-15T00:00:00.000Z", "2020-03-15T23:59:59.999Z"),
    ("2020-01-01T10:00:00+02:00", "2020-01-01T08:00:00.000Z", "2020-01-01T08:00:00.999Z"),
    ("2020-01-01T00:30:00-01:00", "2020-01-01T01:30:00.000Z", "2020-01-01T01:30:00.999Z"),
    ("2020-01-01T10:00", "2020-01-01T10:00:00.000Z", "2020-01-01T10:00:59.999Z"),
    ("2020-01-01T10:00:05", "2020-01-01T10:00:05.000Z", "2020-01-01T10:00:05.999Z"),
    ("2020-01-01T10:00:05.1234Z", "2020-01-01T10:00:05.123Z", "2020-01-01T10:00:05.123Z"),
])
def test_date_range(text, low, high):
    assert date_range(text) == (low, high)


@pytest.mark.parametrize("text", ["", "20", "2020-13", "2020-02-30", "2020-01-01T25:00:00Z", "yesterday"])
def test_date_range_rejects_invalid_dates(text):
    with pytest.raises(ValueError):
        date_range(text)


def test_patient_example():
    fields = index_fields("Patient", example("Patient-example.json"))
    assert "chalmers" in fields["s:family"] and "Chalmers" in fields["e:family"]
    assert fields["s:given"] == ["james", "jim", "peter"]
    assert fields["t:gender"] == ["male", "|male"]
    assert fields["dl:birthdate"] == "1974-12-25T00:00:00.000Z"
    assert fields["dh:birthdate"] == "1974-12-25T23:59:59.999Z"
    assert "urn:oid:1.2.36.146.595.217.0.1|12345" in fields["t:identifier"]
    assert fields["o:identifier"] == ["http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345"]
    assert "phone|(03) 5555 6473" in fields["t:phone"]
    assert fields["s:address-city"] == ["pleasantville"]
    assert fields["r:organization"] == ["1", "Organization/1"]
    assert fields["t:active"] == ["true"] and fields["t:_id"] == ["example"]


def test_document_reference_example():
    fields = index_fields("DocumentReference", example("DocumentReference-example.json"))
    assert {"Patient/xcda", "xcda"} <= set(fields["r:subject"])
    assert {"Patient/xcda", "xcda"} <= set(fields["r:patient"])
    assert "http://loinc.org|34108-1" in fields["t:type"] and "outpatient note" in fields["x:type"]
    assert (fields["dl:date"], fields["dh:date"]) == ("2005-12-23T22:43:41.000Z", "2005-12-23T22:43:41.999Z")
    assert "urn:ietf:rfc:3986|urn:oid:1.3.6.1.4.1.21367.2005.3.7" in fields["t:identifier"]  # masterIdentifier
    assert "urn:ietf:rfc:3986|urn:oid:1.3.6.1.4.1.21367.2005.3.7.2345" in fields["ri:related"]
    assert fields["t:status"] == ["current", "|current"]


def test_audit_event_example():
    fields = index_fields("AuditEvent", example("AuditEvent-example.json"))
    assert (fields["dl:date"], fields["dh:date"]) == ("2012-10-25T11:04:27.000Z", "2012-10-25T11:04:27.999Z")
    assert "http://dicom.nema.org/resources/ontology/DCM|110100" in fields["t:type"]
    assert "|Grahame" in fields["ri:agent"]
    assert fields["x:agent-role"] == ["service user (logon)"]


def test_consent_example():
    resource = example("Consent-consent-example-basic.json")
    fields = index_fields("Consent", resource)
    assert "Patient/f001" in fields["r:patient"]
    assert fields["t:status"] == ["active", "|active"]
    assert fields["dl:date"] == date_range(resource["dateTime"])[0]
    assert fields["dl:period"] == date_range(resource["provision"]["period"]["start"])[0]


def test_hand_written_patient():
    patient = {
        "resourceType": "Patient", "id": "p1",
        "meta": {"lastUpdated": "2024-05-01T12:00:00.5+02:00", "tag": [{"system": "urn:t", "code": "x"}],
                 "security": [{"code": "R", "display": "Restricted"}], "profile": ["http://example.org/p"],
                 "source": "urn:source"},
        "name": [{"family": "Dupont", "given": ["Hélène", "Marie  Claire"], "prefix": ["Mme"],
                  "text": "Hélène Dupont"}],
        "telecom": [{"system": "email", "value": "h@example.org"}],
        "address": [{"line": ["1 rue Émile"], "city": "Paris", "postalCode": "75001", "country": "FR"}],
        "deceasedDateTime": "2023-06",
        "link": [{"other": {"reference": "Patient/p2/_history/3"}, "type": "seealso"},
                 {"other": {"reference": "#contained"}, "type": "refer"}],
        "generalPractitioner": [{"reference": "https://other.example/fhir/Practitioner/9"},
                                {"identifier": {"system": "urn:rpps", "value": "123"}}],
    }
    fields = index_fields("Patient", patient)
    assert fields["s:given"] == ["helene", "marie claire"]
    assert fields["e:given"] == ["Hélène", "Marie  Claire"]
    assert fields["s:name"] == ["dupont", "helene", "helene dupont", "marie claire", "mme"]
    assert fields["s:address"] == ["1 rue emile", "75001", "fr", "paris"]
    assert fields["t:email"] == ["email|", "email|h@example.org", "h@example.org"]
    assert "t:phone" not in fields
    assert fields["t:deceased"] == ["true"]
    assert (fields["dl:death-date"], fields["dh:death-date"]) == (
        "2023-06-01T00:00:00.000Z", "2023-06-30T23:59:59.999Z")
    assert fields["r:link"] == ["Patient/p2", "p2"]
    assert fields["r:general-practitioner"] == ["https://other.example/fhir/Practitioner/9"]
    assert fields["ri:general-practitioner"] == ["123", "urn:rpps|", "urn:rpps|123"]
    assert fields["t:_id"] == ["p1"]
    assert (fields["dl:_lastUpdated"], fields["dh:_lastUpdated"]) == ("2024-05-01T10:00:00.500Z",) * 2
    assert fields["t:_tag"] == ["urn:t|", "urn:t|x", "x"]
    assert fields["t:_security"] == ["R", "|R"] and fields["x:_security"] == ["restricted"]
    assert fields["u:_profile"] == ["http://example.org/p"]
    assert fields["u:_source"] == ["urn:source"]
    assert "t:gender" not in fields and "dl:birthdate" not in fields


def test_references_are_filtered_by_resolved_type():
    document = {"resourceType": "DocumentReference", "status": "current", "content": [],
                "subject": {"reference": "Group/g1"}}
    fields = index_fields("DocumentReference", document)
    assert fields["r:subject"] == ["Group/g1", "g1"]
    assert "r:patient" not in fields
    event = {"resourceType": "AuditEvent", "recorded": "2020-01-01T00:00:00Z",
             "agent": [{"who": {"reference": "Practitioner/d1"}, "requestor": True},
                       {"who": {"type": "Patient", "identifier": {"value": "NIR1"}}, "requestor": False}],
             "entity": [{"what": {"reference": "http://h/fhir/Patient/p9"}}]}
    fields = index_fields("AuditEvent", event)
    assert fields["r:patient"] == ["http://h/fhir/Patient/p9"]
    assert fields["ri:patient"] == ["NIR1", "|NIR1"]
    assert fields["r:agent"] == ["Practitioner/d1", "d1"]


def test_periods_with_open_ends():
    def period(value: dict) -> tuple[str, str]:
        fields = index_fields("DocumentReference", {"resourceType": "DocumentReference", "status": "current",
                                                    "content": [], "context": {"period": value}})
        return fields["dl:period"], fields["dh:period"]
    assert period({"start": "2020-03"}) == ("2020-03-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z")
    assert period({"end": "2021"}) == ("0001-01-01T00:00:00.000Z", "2021-12-31T23:59:59.999Z")
    assert period({"start": "2020-01-01T10:00:00+02:00", "end": "2020-01-02"}) == (
        "2020-01-01T08:00:00.000Z", "2020-01-02T23:59:59.999Z")


def test_only_non_empty_fields():
    fields = index_fields("Consent", {"resourceType": "Consent", "id": "c", "status": "draft", "scope": {},
                                      "category": [{"text": "  "}]})
    assert fields == {"t:_id": ["c"], "t:status": ["draft", "|draft"]}


@pytest.mark.parametrize("path", official_examples(TYPES), ids=lambda p: p.name)
def test_every_official_example_is_indexed(path):
    resource = load(path)
    fields = index_fields(resource["resourceType"], resource)
    assert fields["t:_id"] == [resource["id"]]
    for name, value in fields.items():
        assert name.split(":")[0] in {"s", "e", "t", "x", "o", "r", "ri", "dl", "dh", "u", "n", "q"}
        if name.startswith(("dl:", "dh:")):
            assert isinstance(value, str) and len(value) == 24
        else:
            assert value and value == sorted(set(value))
