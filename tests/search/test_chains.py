"""Chained parameters and `_has`: parsing, canonical rendering, and the outer filter built from a fake resolver."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from fhir_server.errors import BadRequest
from fhir_server.search import chains
from fhir_server.search.values import index_fields
from fhir_server.search.chains import MAX_LINKED, store_resolver
from fhir_server.search.filters import search_filter
from fhir_server.search.query import ChainCriterion, Criterion, HasCriterion, parse_search
from fhir_server.storage.readers import ServerLookup

INS = "urn:oid:1.2.250.1.213.1.4.8"


def parse(resource_type: str, *items: tuple[str, str], strict: bool = False):
    return parse_search(resource_type, list(items), strict)


class FakeResolver:
    """Answers each (type, field) from a table and records the inner queries it was asked."""

    def __init__(self, answers: dict[tuple[str, str | None], list]) -> None:
        self.answers, self.calls = answers, []

    def __call__(self, resource_type: str, query: dict, field: str | None) -> list:
        self.calls.append((resource_type, query, field))
        return self.answers.get((resource_type, field), [])


def test_typed_chain_on_identifier():
    request = parse("DocumentReference", ("subject:Patient.identifier", f"{INS}|123"))
    [chain] = request.criteria
    assert isinstance(chain, ChainCriterion) and (chain.code, chain.modifier) == ("subject", "Patient")
    [(target, inner)] = chain.targets
    assert target == "Patient" and isinstance(inner, Criterion) and inner.values == [f"{INS}|123"]
    assert request.self_query() == [("subject:Patient.identifier", f"{INS}|123")]
    resolve = FakeResolver({("Patient", None): ["p1", "p2"]})
    assert search_filter(request, resolve=resolve) == {
        "$and": [{"r:subject": {"$in": ["Patient/p1", "Patient/p2"]}}, {"deleted": False}]}
    assert resolve.calls == [("Patient", {"$and": [{"t:identifier": f"{INS}|123"}, {"deleted": False}]}, None)]


def test_untyped_chain_uses_each_target_type_that_has_the_parameter():
    request = parse("DocumentReference", ("patient.family", "martin,dupont"), ("subject.name:exact", "Zoé"))
    family, name = request.criteria
    assert [t for t, _ in family.targets] == ["Patient"]  # Group has no `family`, and is not searched
    assert [t for t, _ in name.targets] == ["Practitioner", "Patient"]  # each stored type with a `name`
    assert request.self_query() == [("patient.family", "martin,dupont"), ("subject.name:exact", "Zoé")]
    resolve = FakeResolver({("Patient", None): ["p1"]})
    search_filter(request, resolve=resolve)
    assert resolve.calls[0][1] == {"$and": [{"$or": [{"s:family": {"$regex": "^martin"}},
                                                      {"s:family": {"$regex": "^dupont"}}]}, {"deleted": False}]}
    assert [call[0] for call in resolve.calls] == ["Patient", "Practitioner", "Patient"]
    assert resolve.calls[1][1] == resolve.calls[2][1] == {"$and": [{"e:name": "Zoé"}, {"deleted": False}]}


def test_has_filters_on_ids_referred_to_by_the_source_type():
    request = parse("Patient", ("_has:DocumentReference:subject:type", "http://loinc.org|11488-4"))
    [has] = request.criteria
    assert isinstance(has, HasCriterion)
    assert (has.source_type, has.reference_code, has.target_type) == ("DocumentReference", "subject", "Patient")
    assert request.self_query() == [("_has:DocumentReference:subject:type", "http://loinc.org|11488-4")]
    resolve = FakeResolver({("DocumentReference", "r:subject"): [
        "Patient/p1", "p1", "Group/g1", "Patient/p2", "http://other/Patient/p3", "Patient/p1"]})
    assert search_filter(request, resolve=resolve) == {"$and": [{"_id": {"$in": ["p1", "p2"]}}, {"deleted": False}]}
    assert resolve.calls == [("DocumentReference", {"$and": [{"t:type": "http://loinc.org|11488-4"},
                                                             {"deleted": False}]}, "r:subject")]


def test_no_inner_match_matches_nothing():
    request = parse("DocumentReference", ("patient.family", "nobody"))
    assert search_filter(request, resolve=FakeResolver({})) == {
        "$and": [{"r:patient": {"$in": []}}, {"deleted": False}]}


def test_two_levels_and_nested_has():
    request = parse("Patient", ("_has:DocumentReference:subject:patient.identifier", "a|b"))
    resolve = FakeResolver({("Patient", None): ["p9"], ("DocumentReference", "r:subject"): ["Patient/p1"]})
    assert search_filter(request, resolve=resolve)["$and"][0] == {"_id": {"$in": ["p1"]}}
    assert resolve.calls[1][1] == {"$and": [{"r:patient": {"$in": ["Patient/p9"]}}, {"deleted": False}]}
    nested = parse("Consent", ("patient._has:DocumentReference:subject:type", "x"))
    assert nested.self_query() == [("patient._has:DocumentReference:subject:type", "x")]
    too_deep = parse("DocumentReference", ("patient.link.link.link.family", "x"))
    assert too_deep.ignored == ["patient.link.link.link.family"] and "more than" in too_deep.problems[0]


@pytest.mark.parametrize("name", [
    "subject.nosuch", "subject:Device.name", "subject:Organization.name", "type.text", "patient.family:sounds",
    "_has:Observation:patient:code", "_has:DocumentReference:custodian:type", "_has:DocumentReference:subject",
    "_has:DocumentReference:subject:nosuch", "subject:identifier.name",
])
def test_unsupported_chains_are_ignored_when_lenient_and_refused_when_strict(name):
    resource_type = "Patient" if name.startswith("_has") else "DocumentReference"
    request = parse(resource_type, (name, "x"), ("_id", "a"))
    assert request.ignored == [name] and len(request.problems) == 1
    assert [c.code for c in request.criteria] == ["_id"] and request.self_query() == [("_id", "a")]
    with pytest.raises(BadRequest, match=re.escape(name.split(".")[0].split(":")[0])):
        parse(resource_type, (name, "x"), strict=True)


def test_malformed_inner_values_are_bad_requests():
    with pytest.raises(BadRequest, match="date"):
        parse("DocumentReference", ("patient.birthdate", "yesterday"))
    with pytest.raises(BadRequest):
        parse("Patient", ("_has:DocumentReference:subject:date", "ge20x"))


@pytest.mark.parametrize("value", ['{"$gt": ""}', "$where", ".*", "^", "a|b|c"])
def test_injection_values_stay_plain_values_in_the_inner_filter(value):
    resolve = FakeResolver({})
    search_filter(parse("DocumentReference", ("patient.identifier", value), ("patient.family", value)),
                  resolve=resolve)
    assert resolve.calls[0][1]["$and"][0] == {"t:identifier": value}
    assert resolve.calls[1][1]["$and"][0] == {"s:family": {"$regex": "^" + re.escape(value.lower())}}


def test_too_broad_chains_are_refused_as_too_costly():
    request = parse("DocumentReference", ("patient.family", "a"))
    with pytest.raises(BadRequest, match="too broad") as error:
        search_filter(request, resolve=FakeResolver({("Patient", None): [str(i) for i in range(MAX_LINKED + 1)]}))
    assert error.value.code == "too-costly"


def test_without_a_resolver_a_chain_is_a_bad_request():
    with pytest.raises(BadRequest, match="patient.family"):
        search_filter(parse("DocumentReference", ("patient.family", "a")))


class FakeStore:
    def __init__(self, resources: list[dict]) -> None:
        self.resources, self.asked = resources, []

    def search_page(self, resource_type, query, sort, offset, count, with_total, *, reader):
        self.asked.append((resource_type, query, count, with_total, reader))
        versions = [SimpleNamespace(id=r["id"], resource=r, index=index_fields(resource_type, r))
                    for r in self.resources[offset:offset + count]]
        return versions, None


def test_store_resolver_gives_ids_or_index_values_and_caps_the_page():
    documents = [{"resourceType": "DocumentReference", "id": f"d{i}", "status": "current",
                  "subject": {"reference": f"Patient/p{i}"}, "content": []} for i in range(3)]
    store = FakeStore(documents)
    caller = ServerLookup("a caller")
    resolve = store_resolver(store, caller, limit=5)
    assert resolve("DocumentReference", {"q": 1}, None) == ["d0", "d1", "d2"]
    assert store.asked[0] == ("DocumentReference", {"q": 1}, 6, False, caller)  # the inner search's reader
    assert resolve("DocumentReference", {}, "r:subject") == ["Patient/p0", "p0", "Patient/p1", "p1",
                                                            "Patient/p2", "p2"]
    with pytest.raises(BadRequest, match="too broad"):
        store_resolver(store, caller, limit=2)("DocumentReference", {}, None)
    assert chains.MAX_LINKED == 1000
