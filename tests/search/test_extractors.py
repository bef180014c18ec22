"""The compiled search-value extractors answer exactly what fhirpathpy answers, for every indexed expression of
every searchable type: on the official R4 examples, on the resources the mappers and fixtures produce, and on
hand-made resources with choice types, extensions, primitive extensions and nested lists."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.models import models

from fhir_server.audit.events import Access, Actor, audit_event
from fhir_server.search.extractors import Extractor
from fhir_server.search.registry import SEARCHABLE_TYPES
from fhir_server.search.values import _compiled, index_fields
from tests.examples import load, official_examples

TESTS = Path(__file__).resolve().parents[1]
# Expressions evaluated by fhirpathpy because the compiler does not take them: none today. A new
# SearchParameter whose expression falls outside the compiled subset must be added here knowingly.
FALLBACK: set[str] = set()


def expressions(resource_type: str) -> list[str]:
    return [extractor.expression for _, parts in _compiled(resource_type) for extractor, _ in parts]


def typed(value: object) -> object:
    """`value` with the type of every part, so that True and 1, or Decimal and float, differ."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return type(value).__name__, value


def outcome(evaluate, resource: dict) -> tuple:
    try:
        return "value", typed(evaluate(resource))
    except Exception as error:  # noqa: BLE001 (fhirpathpy's own exceptions on malformed data stay the same)
        return "raises", type(error).__name__


def compare(resource: dict, compiled_path: bool = True) -> None:
    """Each expression of the resource's type gives fhirpathpy's outcome; with `compiled_path`, without
    consulting fhirpathpy (it is only ever compiled by an Extractor when needed)."""
    for expression in expressions(resource["resourceType"]):
        extractor = Extractor(expression)
        expected = outcome(compile_fhirpath(expression, models["r4"]), json.loads(json.dumps(resource)))
        assert outcome(extractor, resource) == expected, expression
        if compiled_path:
            assert "_fhirpathpy" not in vars(extractor), f"{expression} was evaluated by fhirpathpy"


# the official validator's test cases, many of them invalid on purpose (not JSON, not FHIR)
VALIDATOR_CASES = TESTS / "fixtures" / "validator"


def fixture_resources() -> list[tuple[str, dict]]:
    """Every resource of a searchable type in the mappers' golden files and the import fixtures."""
    found: list[tuple[str, dict]] = []

    def walk(where: str, value: object) -> None:
        if isinstance(value, dict):
            if value.get("resourceType") in SEARCHABLE_TYPES:
                found.append((where, value))
            for item in value.values():
                walk(where, item)
        elif isinstance(value, list):
            for item in value:
                walk(where, item)
    ours = [p for p in sorted(TESTS.glob("*/**/*.*json")) if not p.is_relative_to(VALIDATOR_CASES)]
    for path in (p for p in ours if p.suffix == ".json"):
        walk(str(path.relative_to(TESTS)), json.loads(path.read_text(encoding="utf-8")))
    for path in (p for p in ours if p.suffix == ".ndjson"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            walk(f"{path.relative_to(TESTS)}:{n}", json.loads(line))
    return found


def test_every_indexed_expression_is_compiled_but_the_listed_ones():
    every = {expression for resource_type in SEARCHABLE_TYPES for expression in expressions(resource_type)}
    assert {expression for expression in every if not Extractor(expression).compiled} == FALLBACK
    assert len(every) > 150  # the R4 parameters of the searchable types, and MHD's


@pytest.mark.parametrize("path", official_examples(SEARCHABLE_TYPES), ids=lambda p: p.name)
def test_official_examples(path):
    compare(load(path))


@pytest.mark.parametrize(("where", "resource"), fixture_resources(), ids=lambda v: v if isinstance(v, str) else "")
def test_mapped_and_fixture_resources(where, resource):
    compare(resource)


def test_the_server_audit_events():
    actor = Actor("professional", client_id="c1", practitioner="810000000001", profession="10",
                  organization="urn:oid:1.2.250.1.71.4.2.2|10B0152872", address="192.0.2.1", purpose_of_use="ETREAT")
    for access in (Access("read", 200, datetime.now(UTC), actor, patient="p1", entities=["Patient/p1"],
                          emergency=True),
                   Access("search-type", 200, datetime.now(UTC), actor, patient="p1",
                          entities=["DocumentReference/d1"], query="DocumentReference?patient=p1"),
                   Access("operation", 403, datetime.now(UTC), Actor("patient", client_id="app", patient="p2"),
                          patient="p2", operation="close-record", description="refused")):
        compare(audit_event(access, "e1", "https://record.example.org/fhir"))


EXTENSION = {"extension": [{"url": "http://example.org/why", "valueString": "unknown"}]}
MHD = "https://profiles.ihe.net/ITI/MHD/StructureDefinition"


@pytest.mark.parametrize("resource", [
    {"resourceType": "Patient", "id": "a", "deceasedBoolean": True},
    {"resourceType": "Patient", "id": "b", "deceasedBoolean": False, "active": False},
    {"resourceType": "Patient", "id": "c", "deceasedDateTime": "2023-06-01T10:00:00+02:00"},
    {"resourceType": "Patient", "id": "d", "_deceasedDateTime": EXTENSION, "_active": EXTENSION},
    {"resourceType": "Patient", "id": "e", "name": [
        {"family": "Dupont", "given": ["Jean", None, "Marc"], "_given": [None, EXTENSION, {"id": "g3"}]},
        {"text": "J. Dupont", "_family": EXTENSION, "prefix": [["nested"]]}],
     "telecom": [{"system": "email", "value": "j@example.org"}, {"system": "phone", "value": "0102030405"},
                 {"system": "email", "_system": EXTENSION, "value": "two-items@example.org"},
                 {"_system": EXTENSION, "value": "no-system"}, {"system": ["email"], "value": "in-a-list"},
                 {"system": "EMAIL", "value": "other-case"}, None],
     "_telecom": [EXTENSION],
     "address": [{"line": ["1 rue A", 2.5], "city": "Paris", "_city": {"id": "c1"}, "postalCode": 75001}],
     "identifier": [{"system": "urn:x", "value": 1.1, "type": {"coding": [{"code": "MR", "version": 0.5}]}}],
     "extension": [{"url": "http://example.org/weight", "valueDecimal": 0.1}],
     "meta": {"lastUpdated": "2024-01-01T00:00:00Z", "_lastUpdated": EXTENSION, "tag": [EXTENSION, {"code": "t"}]},
     "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}]}}],
     "link": [{"other": {"reference": "Patient/x"}, "type": "seealso"}]},
    {"resourceType": "List", "id": "f", "status": "current", "mode": "working", "extension": [
        {"url": f"{MHD}/ihe-sourceId", "valueIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3"}},
        {"url": f"{MHD}/ihe-designationType", "valueCodeableConcept": {"coding": [{"code": "x"}]}},
        {"url": f"{MHD}/ihe-designationType", "valueString": "only the first one counts"}],
     "entry": [{"item": {"reference": "DocumentReference/d1"}}, {"item": {"display": "no reference"}}]},
    {"resourceType": "List", "id": "g", "status": "current", "mode": "working", "extension": [
        {"url": f"{MHD}/ihe-sourceId", "_valueString": EXTENSION},
        {"url": f"{MHD}/ihe-designationType", "valueString": "s", "_valueString": {"id": "v"}},
        {"url": "http://example.org/other", "valueCode": "ignored"}]},
    {"resourceType": "DocumentReference", "id": "h", "status": "current", "content": [
        {"attachment": {"contentType": "application/pdf", "language": "fr", "creation": "2020-01-01",
                        "url": "http://example.org/a.pdf"}, "format": {"code": "urn:x"}},
        {"attachment": {"contentType": "text/plain", "_language": EXTENSION}}],
     "context": {"period": {"start": "2020"}, "related": [{"identifier": {"value": "r1"}}],
                 "event": [{"text": "e1"}, {"coding": []}]},
     "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/old"}}],
     "subject": {"reference": "Patient/p1"}, "securityLabel": [{"coding": [{"code": "N"}]}]},
    {"resourceType": "Consent", "id": "i", "status": "active", "scope": {"coding": [{"code": "patient-privacy"}]},
     "category": [{"text": "c"}], "patient": {"reference": "Patient/p1"}, "dateTime": "2021-01-01",
     "provision": {"type": "deny", "period": {"end": "2030"}, "actor": [{"reference": {"identifier": {"value": "1"}},
                                                                          "role": {"text": "r"}}],
                   "action": [{"coding": [{"code": "access"}]}], "purpose": [{"code": "ETREAT"}],
                   "data": [{"meaning": "related", "reference": {"reference": "DocumentReference/d1"}}]}},
], ids=lambda r: f"{r['resourceType']}-{r['id']}")
def test_hand_made_resources(resource):
    compare(resource)


@pytest.mark.parametrize("resource", [
    # fhirpathpy raises on an `as` of two items (a value and its extension holder)
    {"resourceType": "Patient", "id": "j", "deceasedDateTime": "2023", "_deceasedDateTime": EXTENSION},
    {"resourceType": "Patient", "id": "k", "deceasedBoolean": True, "_deceasedBoolean": {"id": "x"}},
    # a nested object with a resourceType: fhirpathpy types it by it
    {"resourceType": "Patient", "id": "l", "deceasedDateTime": {"resourceType": "dateTime"},
     "name": [{"resourceType": "HumanName", "family": "X"}]},
    # fhirpathpy raises on an extension without url, or a list of something else than extensions
    {"resourceType": "List", "id": "m", "status": "current", "mode": "working", "extension": [{"valueString": "x"}]},
    {"resourceType": "List", "id": "n", "status": "current", "mode": "working", "extension": ["x"]},
    {"resourceType": "List", "id": "o", "status": "current", "mode": "working", "extension": {}},
], ids=lambda r: f"{r['resourceType']}-{r['id']}")
def test_malformed_resources_are_left_to_fhirpathpy(resource):
    compare(resource, compiled_path=False)


def test_index_fields_keep_their_representation():
    fields = index_fields("Patient", {"resourceType": "Patient", "id": "p", "deceasedDateTime": "2020",
                                      "telecom": [{"system": "email", "value": "a@b"}, {"system": "phone", "value": "1"}]})
    assert fields["t:deceased"] == ["true"]
    assert (fields["dl:death-date"], fields["dh:death-date"]) == ("2020-01-01T00:00:00.000Z", "2020-12-31T23:59:59.999Z")
    assert fields["t:email"] == ["a@b", "email|", "email|a@b"]
    assert index_fields("Patient", {"resourceType": "Patient", "id": "q"})["t:deceased"] == ["false"]


def test_an_expression_outside_the_subset_is_evaluated_by_fhirpathpy():
    extractor = Extractor("Patient.name.given.first() | Patient.name.family")
    assert not extractor.compiled
    assert extractor({"resourceType": "Patient", "name": [{"given": ["A", "B"], "family": "F"}]}) == ["A", "F"]


def test_results_take_fhirpathpy_output_form():
    extractor = Extractor("Patient.extension.value")
    assert extractor.compiled
    assert extractor({"resourceType": "Patient", "extension": [{"url": "u", "valueDecimal": 0.1},
                                                                {"url": "v", "_valueString": EXTENSION}]}) == [
        Decimal("0.1")]
