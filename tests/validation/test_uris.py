"""URIs: urn:uuid and urn:oid values well-formed, absolute URIs where the definitions require them."""
from __future__ import annotations

import pytest

from validation import validate_resource

UUID = "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"


def value_set(**elements) -> dict:
    return {"resourceType": "ValueSet", "status": "draft", **elements}


def found(resource: dict) -> list[tuple[str, str, str]]:
    return [(i.severity, i.code, i.path) for i in validate_resource(resource)]


@pytest.mark.parametrize("uri", [
    "urn:uuid:6a2ee390-978e-42c6-8f88-c17dff3bd8a",  # HL7 test vs-canonical-urn-bad.json: 11 digits at the end
    "urn:uuid:c757873d-ec9a-4326-a141-556f4323952g", "urn:uuid:c757873dec9a4326a141556f43239520", "urn:uuid:",
])
def test_a_urn_uuid_holds_a_uuid(uri):
    assert found(value_set(url=uri)) == [("error", "value", "ValueSet.url")]
    patient = {"resourceType": "Patient", "extension": [{"url": "http://example.org/x", "valueUri": uri}]}
    assert found(patient) == [("error", "value", "Patient.extension[0].valueUri")]


def test_a_uuid_uri_may_have_a_fragment():
    # HL7 test ips-htmlrefs-backwards.json: a narrativeLink to an anchor of a Bundle entry's narrative
    uri = f"{UUID}#AllergyIntolerance-{UUID}"
    patient = {"resourceType": "Patient", "extension": [{"url": "http://example.org/x", "valueUri": uri}]}
    assert found(patient) == []


def test_uuids_in_uppercase_are_only_warned():
    # datatypes.html#uri: "For UUID (urn:uuid:53fefa32-...) use all lowercase"; the official
    # CapabilityStatement-example.json has an uppercase one
    assert found(value_set(url=UUID.upper().replace("URN:UUID:", "urn:uuid:"))) == [
        ("warning", "value", "ValueSet.url")]
    assert found(value_set(url=UUID)) == []


@pytest.mark.parametrize("uri, severity", [
    ("urn:oid:2.16.840.1.113883.4.642.3.1", None), ("urn:oid:X.Y.Z", "warning"), ("urn:oid:3.1", "warning"),
    ("urn:oid:1.02.3", "warning"), ("urn:oid:1", "warning"),
])
def test_a_urn_oid_holds_an_oid(uri, severity):
    # a warning only: the official Library-zika-virus-intervention-logic.json has urn:oid:X.Y.Z
    assert found(value_set(url=uri)) == ([(severity, "value", "ValueSet.url")] if severity else [])


@pytest.mark.parametrize("url", ["ValueSet/vs-canonical-bad", "c1", "vs.json", "//example.org/vs"])
def test_a_canonical_url_is_an_absolute_uri(url):
    # ValueSet.url: "An absolute URI that is used to identify this value set...", in a contained resource too
    code_system = {"resourceType": "CodeSystem", "id": "c1", "url": url, "status": "draft", "content": "complete"}
    resource = value_set(url=url, contained=[code_system])
    assert found(resource) == [("error", "value", "ValueSet.contained[0].url"), ("error", "value", "ValueSet.url")]


def test_absolute_uris_required_by_the_definitions():
    compose = {"include": [{"system": "http://example.org/cs"}, {"system": "cs"},
                           {"valueSet": ["http://example.org/vs", "#vs1", "vs2"]}]}
    assert found(value_set(compose=compose)) == [
        ("error", "value", "ValueSet.compose.include[1].system"),
        ("error", "value", "ValueSet.compose.include[2].valueSet[2]")]
    definition = {"resourceType": "StructureDefinition", "url": "http://example.org/sd", "name": "X",
                  "status": "draft", "kind": "resource", "abstract": False, "type": "Patient",
                  "baseDefinition": "StructureDefinition/Patient", "derivation": "constraint"}
    assert found(definition) == [("error", "value", "StructureDefinition.baseDefinition")]


def tolerated(resource: dict) -> list[tuple[str, str]]:
    """The errors a write tolerates, where they are: reported as errors, and as warnings when lenient."""
    strict = [(i.code, i.path) for i in validate_resource(resource) if i.severity == "error" and i.tolerated]
    assert found(resource) == [("error", code, path) for code, path in strict]
    assert [(i.severity, i.code, i.path) for i in validate_resource(resource, lenient=True)] == \
        [("warning", code, path) for code, path in strict]
    return strict


def test_a_contained_code_system_named_by_fragment_in_include_system_is_an_error_writes_tolerate():
    # HL7 tests vs-canonical-bad-2.json, vs-canonical-urn.json; the official ValueSet-example-hierarchical.json
    # does it too. The R4 way: the code system's URL, with the valueset-system extension naming "#c1"
    assert tolerated(value_set(compose={"include": [{"system": "#c1"}]})) == [
        ("value", "ValueSet.compose.include[0].system")]


@pytest.mark.parametrize("url", ["http://example.org/fhir/ValueSet/x", "https://x.org/a?b#c", UUID,
                                 "urn:oid:1.2.3", "urn:ietf:bcp:47", "mailto:a@b.org"])
def test_absolute_uris_are_accepted(url):
    assert found(value_set(url=url, compose={"include": [{"system": url}]})) == []


def test_relative_canonicals_and_coding_systems_are_errors_writes_tolerate():
    # HL7 tests mr-m-simple-nossystem.xml, mr-covid-bnd1.json: the official validator wants them absolute;
    # R4 does not say so, and 63 official examples have relative canonicals (Measure.library "Library/...")
    measure = {"resourceType": "Measure", "status": "draft", "library": ["Library/example", "#contained"],
               "url": "http://example.org/Measure/m",
               "topic": [{"coding": [{"system": "Location!", "code": "x"}, {"system": "urn:oid:1.2.3", "code": "y"}]}]}
    assert tolerated(measure) == [("value", "Measure.library[0]"), ("value", "Measure.topic[0].coding[0].system")]
    assert "Canonical" not in str(validate_resource(measure))  # the message says what is wrong, not its origin
    assert found({**measure, "library": ["http://example.org/Library/x"], "topic": [{"text": "x"}]}) == []
