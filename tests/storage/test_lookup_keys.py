"""The posting keys of the lookups by traits and by author: which lists a resource joins and which list a
search criterion reads, as search/values.py indexes and search/filters.py queries (no database)."""
from __future__ import annotations

import pytest

from fhir_server.search.filters import search_filter
from fhir_server.search.query import parse_search
from fhir_server.search.values import index_fields
from fhir_server.storage.candidates import single_criteria
from fhir_server.storage.lookup_keys import birth_key, name_key, range_keys
from fhir_server.storage.postings import criterion_keys, posting_keys


def criteria(resource_type: str, items: list[tuple[str, str]]) -> list[dict]:
    """The criteria of a search's filter but `deleted`."""
    return [c for c in search_filter(parse_search(resource_type, items, strict=True))["$and"] if "deleted" not in c]


def keys_of(resource_type: str, criterion: dict) -> list[str] | None:
    if len(criterion) > 1:
        return range_keys(resource_type, criterion)
    (field, condition), = single_criteria(criterion)
    return criterion_keys(resource_type, field, condition)


def patient_keys(resource: dict) -> list[str]:
    return posting_keys("Patient", index_fields("Patient", {"resourceType": "Patient", **resource}))


def test_a_patient_joins_the_lists_of_its_name_prefixes_and_birth_day():
    keys = patient_keys({"name": [{"family": "Lefèvre-Dupré", "given": ["Hélène", "Zo"], "prefix": ["Mme"],
                                   "text": "Hélène LEFÈVRE-DUPRÉ"}], "birthDate": "1961-07-14"})
    prefixes = ["lef", "lefe", "lefev", "lefevr", "lefevre-", "hel", "hele", "helen", "helene", "mme",
                "hel", "hele", "helen", "helene", "helene l"]
    assert sorted(keys) == sorted({name_key(p) for p in prefixes} | {birth_key("1961-07-14")})
    assert all("lef" not in key and "1961" not in key.split("|")[1] for key in keys)  # names hashed


def test_a_birth_date_of_month_precision_has_no_day_list():
    assert patient_keys({"birthDate": "1961-07"}) == []


@pytest.mark.parametrize("items, prefix", [
    ([("name", "Lefèvre")], "lefevr"),  # the longest length the value reaches
    ([("family", "LEFEVRE-DUPRE")], "lefevre-"),
    ([("given", "hél")], "hel"),
    ([("name", "  Hélène   Lefèvre ")], "helene l"),  # spacing collapsed as the index does
])
def test_a_starts_with_search_reads_the_longest_prefix_list(items, prefix):
    (criterion,) = criteria("Patient", items)
    assert keys_of("Patient", criterion) == [name_key(prefix)]


@pytest.mark.parametrize("items", [
    [("name", "le")],  # shorter than every list
    [("name:contains", "fevre")],
    [("name:exact", "Lefèvre")],
    [("name", "le,lef")],  # several values: an `$or`
    [("birthdate", "1961")],  # a year, not a day
    [("birthdate", "ge1961-07-14")],
    [("address-city", "Paris")],
])
def test_criteria_no_list_covers(items):
    (criterion,) = criteria("Patient", items)
    assert keys_of("Patient", criterion) is None


def test_special_characters_of_a_name_are_literal():
    (criterion,) = criteria("Patient", [("name", "o'b.(r)*[i]+e?n")])
    assert keys_of("Patient", criterion) == [name_key("o'b.(r)*")]
    for pattern in ("^ab.c", "ab", "^a\\", "^ab|c", "^a(b)"):
        assert criterion_keys("Patient", "s:name", {"$regex": pattern}) is None


def test_a_birth_day_search_reads_that_days_list():
    for value in ("1961-07-14", "eq1961-07-14", "1961-07-14T10:00:00+00:00"):
        (criterion,) = criteria("Patient", [("birthdate", value)])
        assert keys_of("Patient", criterion) == [birth_key("1961-07-14")]
    assert range_keys("Patient", {"dl:birthdate": {"$gte": "1961-07-14T00:00:00.000Z"},
                                  "dh:birthdate": {"$lte": "1961-07-14T23:59:59.999Z"}}) == [birth_key("1961-07-14")]
    assert range_keys("DocumentReference", {"dl:date": {"$gte": "2020-01-01T00:00:00.000Z"},
                                            "dh:date": {"$lte": "2020-01-01T23:59:59.999Z"}}) is None


def test_a_document_joins_its_practitioner_authors_lists():
    document = {"resourceType": "DocumentReference", "status": "current", "author": [
        {"reference": "Practitioner/p1"}, {"reference": "PractitionerRole/r1"}, {"reference": "Organization/o1"},
        {"type": "Practitioner", "identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810001"}},
        {"reference": "#contained"}], "content": [{"attachment": {"url": "https://example.org/x.pdf"}}]}
    keys = posting_keys("DocumentReference", index_fields("DocumentReference", document))
    author_keys = [k for k in keys if "author" in k]
    assert author_keys[:2] == ["DocumentReference|r:author|Practitioner/p1",
                               "DocumentReference|r:author|PractitionerRole/r1"]
    assert len(author_keys) == 3 and "810001" not in author_keys[2]  # the logical reference's, hashed
    (by_identifier,) = criteria("DocumentReference", [("author:identifier", "urn:oid:1.2.250.1.71.4.2.1|810001")])
    assert keys_of("DocumentReference", by_identifier) == [author_keys[2]]
    (by_reference,) = criteria("DocumentReference", [("author", "Practitioner/p1,PractitionerRole/r1")])
    assert keys_of("DocumentReference", by_reference) == author_keys[:2]
    for items in ([("author", "Organization/o1")], [("author", "Practitioner/p1,Organization/o1")]):
        (criterion,) = criteria("DocumentReference", items)
        assert keys_of("DocumentReference", criterion) is None


def test_an_empty_in_needs_no_list():
    """A chain that found nothing: nothing matches, no list to read (and no scan)."""
    assert criterion_keys("DocumentReference", "r:author", {"$in": []}) == []
