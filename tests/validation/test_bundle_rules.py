"""The Bundle and reference rules of R4 bundle.html, search.html and references.html (validation/bundles.py):
paging links, search set entries, conditional references, relative references in a document whose fullUrls
are not RESTful."""
from __future__ import annotations

import uuid

import pytest

from validation import validate_resource

NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">A</div>'}


def errors(resource: dict) -> set[tuple[str, str]]:
    """(code, path) of each error."""
    return {(i.code, i.path) for i in validate_resource(resource, invariants=True) if i.severity == "error"}


def search_set(self_url: str, *entries: dict, links: tuple = ()) -> dict:
    return {"resourceType": "Bundle", "type": "searchset",
            "link": [{"relation": "self", "url": self_url}, *links], "entry": list(entries)}


# what each type used here requires
REQUIRED = {"OperationOutcome": {"issue": [{"severity": "information", "code": "informational"}]},
            "Observation": {"status": "final", "code": {"text": "x"}}, "Organization": {"name": "Org"}}


def result(resource_type: str, mode: str, id_: str | None = "1") -> dict:
    resource = {"resourceType": resource_type, "text": NARRATIVE, **REQUIRED.get(resource_type, {})}
    if id_:
        resource["id"] = id_
    full_url = f"http://example.org/fhir/{resource_type}/{id_}" if id_ else f"urn:uuid:{uuid.uuid4()}"
    return {"fullUrl": full_url, "resource": resource, "search": {"mode": mode}}


def test_a_search_set_with_matches_includes_and_an_outcome():
    bundle = search_set("http://example.org/fhir/Observation?patient=1&_include=Observation:patient",
                        result("Observation", "match"), result("Patient", "include"),
                        result("OperationOutcome", "outcome", id_=None),
                        links=({"relation": "next", "url": "http://example.org/fhir/Observation?page=2"},))
    assert errors(bundle) == set()


def test_search_results_have_ids():
    # HL7 tests bundle-id-search-3.json, bundle-id-search-4.json; resource.html#id: only a resource being
    # created has no id
    bundle = search_set("http://example.org/fhir/Patient?name=x", result("Patient", "match", id_=None),
                        result("Organization", "include", id_=None))
    assert errors(bundle) == {("required", "Bundle.entry[0].resource"), ("required", "Bundle.entry[1].resource")}


def test_a_match_is_of_a_type_searched():
    assert errors(search_set("http://example.org/fhir/Patient?name=x", result("Location", "match"))) == {
        ("invalid", "Bundle.entry[0].resource")}
    system_search = "http://example.org/fhir?name=x&_type=Observation,DocumentReference"
    assert errors(search_set(system_search, result("Observation", "match"))) == set()
    assert errors(search_set(system_search, result("Patient", "match"))) == {("invalid", "Bundle.entry[0].resource")}
    # no type named: nothing to compare with
    assert errors(search_set("http://example.org/fhir?name=x", result("Patient", "match"))) == set()
    # an include may be of any type
    assert errors(search_set("http://example.org/fhir/Patient?name=x", result("Organization", "include"))) == set()


def test_an_outcome_entry_is_an_operation_outcome():
    assert errors(search_set("http://example.org/fhir/Patient?name=x", result("Patient", "outcome"))) == {
        ("invalid", "Bundle.entry[0].resource")}


@pytest.mark.parametrize("bundle_type", ["searchset", "collection", "history"])
def test_each_paging_link_relation_occurs_once(bundle_type):
    # HL7 test bundle-id-search-2.json
    bundle = {"resourceType": "Bundle", "type": bundle_type, "link": [
        {"relation": "self", "url": "http://example.org/fhir/Patient?name=x"},
        {"relation": "next", "url": "http://example.org/fhir/Patient?page=2"},
        {"relation": "self", "url": "http://example.org/fhir/Patient?name=x"},
        {"relation": "alternate", "url": "http://example.org/a"}, {"relation": "alternate", "url": "http://e.org/b"},
        {"relation": "next", "url": "http://example.org/fhir/Patient?page=3"}]}
    assert errors(bundle) == {("invalid", "Bundle.link[2].relation"), ("invalid", "Bundle.link[5].relation")}


def observation(device_reference: str) -> dict:
    return {"resourceType": "Observation", "text": NARRATIVE, "status": "final", "code": {"text": "x"},
            "device": {"reference": device_reference}}


@pytest.mark.parametrize("reference", ["Device?identifier=1234", "Device?identifier=http://a.org|1&type=x",
                                       "Device?_id=1", "Device?subject:Patient.name:exact=a%20b", "Device/1",
                                       "#d", "http://example.org/fhir/Device?x"])
def test_valid_conditional_references(reference):
    assert ("invalid", "Observation.device") not in errors(observation(reference))


@pytest.mark.parametrize("reference", ["Device?identifier=1234&?==", "Device?", "Device?identifier",
                                       "Device?a=b=c", "Device?1a=b"])
def test_a_conditional_reference_holds_a_search(reference):
    # HL7 test bundle-conditional-reference-bad.json
    assert errors(observation(reference)) == {("invalid", "Observation.device")}


def test_a_conditional_reference_in_a_transaction_entry():
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0b0e5f1e-5f5d-4f55-9c3a-2c1d4e8f9a10", "resource": observation("Device?=x"),
         "request": {"method": "POST", "url": "Observation"}}]}
    assert errors(bundle) == {("invalid", "Bundle.entry[0].resource.device")}


def document(composition_url: str, organization_url: str, author: str) -> dict:
    composition = {"resourceType": "Composition", "id": "c1", "text": NARRATIVE, "status": "final",
                   "type": {"text": "note"}, "date": "2024-01-01", "title": "Note", "author": [{"reference": author}]}
    organization = {"resourceType": "Organization", "id": "666", "text": NARRATIVE, "name": "Org"}
    return {"resourceType": "Bundle", "type": "document", "timestamp": "2024-01-01T00:00:00Z",
            "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},
            "entry": [{"fullUrl": composition_url, "resource": composition},
                      {"fullUrl": organization_url, "resource": organization}]}


def test_a_relative_reference_resolves_against_a_restful_full_url():
    base = "http://example.org/fhir/"
    assert errors(document(base + "Composition/c1", base + "Organization/666", "Organization/666")) == set()
    other_server = "http://other.org/fhir/Organization/666"
    assert errors(document(base + "Composition/c1", other_server, "Organization/666")) == {
        ("not-found", "Bundle.entry[0].resource.author[0]")}


def test_a_relative_reference_from_a_urn_full_url_has_no_meaning_in_the_bundle():
    # HL7 test relative_reference_to_TYPE_ID.all_fullUrl_UUID.xml; bundle.html#references: "else no rules
    # apply. The reference has no defined meaning in this specification"
    organization = "urn:uuid:2aaf815f-3ebe-4a03-9b87-05d0700313b2"
    composition = "urn:uuid:10a67a86-a9ec-427e-ba3f-f042cef21733"
    assert errors(document(composition, organization, "Organization/666")) == {
        ("not-found", "Bundle.entry[0].resource.author[0]")}
    assert errors(document(composition, organization, organization)) == set()
