"""SearchRequest -> MongoDB filter: the exact document for each parameter type, prefix and modifier."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from fhir_server.errors import BadRequest
from fhir_server.search.filters import criterion_filter, search_filter
from fhir_server.search.query import Criterion, check_value, parse_search
from fhir_server.search.registry import SearchParam

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
Y2020 = ("2020-01-01T00:00:00.000Z", "2020-12-31T23:59:59.999Z")


def one(name: str, value: str, resource_type: str = "Patient") -> dict:
    """The filter of the single criterion `name=value`."""
    request = parse_search(resource_type, [(name, value)], strict=True)
    return criterion_filter(request.criteria[0], NOW)


def numeric(kind: str, value: str, modifier: str | None = None) -> dict:
    """The filter of a number or quantity criterion (none of the searched types has one; R4 has e.g. value-quantity)."""
    param = SearchParam("value", kind, "", (), "", "", (), ())
    for v in value.split(","):
        check_value("value", param, modifier, v)
    return criterion_filter(Criterion("value", modifier, value.split(","), param), NOW)


# string
def test_string_starts_with_the_normalised_value():
    assert one("family", "Hélène  DU") == {"s:family": {"$regex": "^" + re.escape("helene du")}}


def test_string_contains_and_exact():
    assert one("family:contains", "lèn") == {"s:family": {"$regex": "len"}}
    assert one("family:exact", "Hélène") == {"e:family": "Hélène"}
    assert one("family:exact", "A,B") == {"e:family": {"$in": ["A", "B"]}}


def test_string_comma_is_or():
    assert one("given", "jean,paul") == {"$or": [{"s:given": {"$regex": "^jean"}}, {"s:given": {"$regex": "^paul"}}]}


# token
@pytest.mark.parametrize("value", ["male", "http://hl7.org/fhir/administrative-gender|male", "|male",
                                   "http://hl7.org/fhir/administrative-gender|"])
def test_token_matches_the_value_as_written(value):
    assert one("gender", value) == {"t:gender": value}


def test_token_modifiers():
    assert one("gender", "male,female") == {"t:gender": {"$in": ["male", "female"]}}
    assert one("gender:not", "male") == {"t:gender": {"$nin": ["male"]}}
    assert one("gender:not", "male,other") == {"t:gender": {"$nin": ["male", "other"]}}
    assert one("identifier:text", "Numéro") == {"x:identifier": {"$regex": "^numero"}}
    assert one("identifier:of-type", "http://terminology.hl7.org/CodeSystem/v2-0203|MR|123") == {
        "o:identifier": "http://terminology.hl7.org/CodeSystem/v2-0203|MR|123"}
    assert one("_id", "a,b") == {"_id": {"$in": ["a", "b"]}}
    assert one("_id:not", "a") == {"t:_id": {"$nin": ["a"]}}


# reference
def test_reference_values():
    assert one("general-practitioner", "Practitioner/1") == {"r:general-practitioner": "Practitioner/1"}
    assert one("general-practitioner", "1") == {"r:general-practitioner": "1"}
    assert one("general-practitioner:Practitioner", "1") == {"r:general-practitioner": "Practitioner/1"}
    assert one("subject:Patient", "123", "DocumentReference") == {"r:subject": "Patient/123"}
    assert one("general-practitioner:identifier", "sys|42") == {"ri:general-practitioner": "sys|42"}


def test_absolute_and_versioned_references_also_match_type_and_id():
    assert one("patient", "http://example.org/fhir/Patient/7", "Consent") == {
        "r:patient": {"$in": ["http://example.org/fhir/Patient/7", "Patient/7"]}}
    assert one("patient", "Patient/7/_history/2", "Consent") == {
        "r:patient": {"$in": ["Patient/7/_history/2", "Patient/7"]}}
    assert one("patient", "urn:uuid:0f1e", "Consent") == {"r:patient": "urn:uuid:0f1e"}
    assert one("patient", "7", "Consent") == {"r:patient": "7"}  # Patient or Group: left as given
    assert one("patient", "7", "DocumentReference") == {"r:patient": "Patient/7"}  # only ever a Patient
    assert one("subject:Patient", "7", "DocumentReference") == {"r:subject": "Patient/7"}


# date
@pytest.mark.parametrize("prefix, expected", [
    ("", {"dl:birthdate": {"$gte": Y2020[0], "$lte": Y2020[1]}, "dh:birthdate": {"$lte": Y2020[1]}}),
    ("eq", {"dl:birthdate": {"$gte": Y2020[0], "$lte": Y2020[1]}, "dh:birthdate": {"$lte": Y2020[1]}}),
    ("ne", {"$or": [{"dl:birthdate": {"$lt": Y2020[0]}}, {"dh:birthdate": {"$gt": Y2020[1]}}]}),
    ("gt", {"dh:birthdate": {"$gt": Y2020[1]}}),
    ("lt", {"dl:birthdate": {"$lt": Y2020[0]}}),
    ("ge", {"dh:birthdate": {"$gte": Y2020[0]}}),
    ("le", {"dl:birthdate": {"$lte": Y2020[1]}}),
    ("sa", {"dl:birthdate": {"$gt": Y2020[1]}}),
    ("eb", {"dh:birthdate": {"$lt": Y2020[0]}}),
])
def test_date_prefixes(prefix, expected):
    assert one("birthdate", f"{prefix}2020") == expected


def test_date_ap_widens_by_a_tenth_of_the_time_to_now():
    # 2020-01-01 is 3653 days before NOW: the margin is 365.3 days.
    assert one("birthdate", "ap2020") == {"dl:birthdate": {"$lte": "2022-01-01T07:11:59.999Z"},
                                         "dh:birthdate": {"$gte": "2018-12-31T16:48:00.000Z"}}


def test_date_with_time_zone_and_last_updated():
    assert one("_lastUpdated", "gt2020-03-04T10:00:00+02:00") == {
        "dh:_lastUpdated": {"$gt": "2020-03-04T08:00:00.999Z"}}
    assert one("date", "2019,2020", "AuditEvent") == {"$or": [
        {"dl:date": {"$gte": "2019-01-01T00:00:00.000Z", "$lte": "2019-12-31T23:59:59.999Z"},
         "dh:date": {"$lte": "2019-12-31T23:59:59.999Z"}},
        {"dl:date": {"$gte": Y2020[0], "$lte": Y2020[1]}, "dh:date": {"$lte": Y2020[1]}}]}


# number and quantity
def test_number_eq_and_ne_use_the_implicit_precision():
    assert numeric("number", "100") == {"n:value": {"$elemMatch": {"$gte": 99.5, "$lt": 100.5}}}
    assert numeric("number", "5.40") == {"n:value": {"$elemMatch": {"$gte": 5.395, "$lt": 5.405}}}
    assert numeric("number", "1e2") == {"n:value": {"$elemMatch": {"$gte": 50.0, "$lt": 150.0}}}
    assert numeric("number", "ne100") == {"$or": [{"n:value": {"$lt": 99.5}}, {"n:value": {"$gte": 100.5}}]}


@pytest.mark.parametrize("prefix, operator", [("gt", "$gt"), ("sa", "$gt"), ("lt", "$lt"), ("eb", "$lt"),
                                              ("ge", "$gte"), ("le", "$lte")])
def test_number_order_prefixes(prefix, operator):
    assert numeric("number", f"{prefix}-2.5") == {"n:value": {operator: -2.5}}


def test_number_ap_allows_ten_percent_and_comma_is_or():
    assert numeric("number", "ap200") == {"n:value": {"$elemMatch": {"$gte": 180.0, "$lte": 220.0}}}
    assert numeric("number", "gt1,lt0") == {"$or": [{"n:value": {"$gt": 1.0}}, {"n:value": {"$lt": 0.0}}]}


def test_quantity_number_and_unit():
    assert numeric("quantity", "gt5.4") == {"n:value": {"$gt": 5.4}}
    assert numeric("quantity", "5.4|http://unitsofmeasure.org|mg") == {"$and": [
        {"n:value": {"$elemMatch": {"$gte": 5.35, "$lt": 5.45}}}, {"q:value": "http://unitsofmeasure.org|mg"}]}
    assert numeric("quantity", "le5||mg") == {"$and": [{"n:value": {"$lte": 5.0}}, {"q:value": {"$regex": r"\|mg$"}}]}


@pytest.mark.parametrize("kind, value", [("number", "abc"), ("number", "1.2.3"), ("number", "zz5"),
                                         ("quantity", "5|mg"), ("quantity", "x|s|mg"), ("number", "5 ")])
def test_malformed_numbers_are_bad_requests(kind, value):
    with pytest.raises(BadRequest, match="value"):
        numeric(kind, value)


# uri
def test_uri_equality_below_and_above():
    assert one("_profile", "http://x.org/fhir/P") == {"u:_profile": "http://x.org/fhir/P"}
    assert one("_profile:below", "http://x.org/fhir") == {
        "u:_profile": {"$regex": "^" + re.escape("http://x.org/fhir")}}
    assert one("_profile:above", "http://x.org/fhir/StructureDefinition/p") == {"u:_profile": {"$in": [
        "http://x.org/fhir/StructureDefinition/p", "http://x.org/fhir/StructureDefinition", "http://x.org/fhir",
        "http://x.org"]}}


# missing
@pytest.mark.parametrize("name, field", [("birthdate", "dl:birthdate"), ("family", "s:family"), ("gender", "t:gender"),
                                         ("general-practitioner", "r:general-practitioner"),
                                         ("_profile", "u:_profile")])
def test_missing(name, field):
    assert one(f"{name}:missing", "true") == {field: {"$exists": False}}
    assert one(f"{name}:missing", "false") == {field: {"$exists": True}}


def test_missing_on_numbers():
    assert numeric("quantity", "true", modifier="missing") == {"n:value": {"$exists": False}}


# whole request
def test_repeated_parameters_are_anded_with_not_deleted():
    request = parse_search("Patient", [("birthdate", "ge2000"), ("birthdate", "lt2010"), ("gender", "male,female"),
                                       ("nosuch", "x")], strict=False)
    assert search_filter(request, NOW) == {"$and": [
        {"dh:birthdate": {"$gte": "2000-01-01T00:00:00.000Z"}},
        {"dl:birthdate": {"$lt": "2010-01-01T00:00:00.000Z"}},
        {"t:gender": {"$in": ["male", "female"]}},
        {"deleted": False}]}


def test_no_criteria_is_every_current_resource():
    assert search_filter(parse_search("Patient", [], strict=False)) == {"$and": [{"deleted": False}]}


# injection
FIELD = re.compile(r"(s|e|t|x|o|r|ri|dl|dh|u|n|q):[A-Za-z_][A-Za-z0-9_-]*|deleted")
OPERATORS = {"$and", "$or", "$in", "$nin", "$regex", "$exists", "$gt", "$gte", "$lt", "$lte", "$elemMatch"}
HOSTILE = ['{"$gt": ""}', "$where", "sleep(1000)", ".*", "^a", "a|b", "$ne", "a.b", "(?i)x", "\\", "[a-z]+",
           "{\"$regex\": \".*\"}"]


def walk(node, keys: list[str], leaves: list) -> None:
    if isinstance(node, dict):
        for key, child in node.items():
            keys.append(key)
            walk(child, keys, leaves)
    elif isinstance(node, list):
        for child in node:
            walk(child, keys, leaves)
    else:
        leaves.append(node)


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("name", ["family", "family:contains", "family:exact", "identifier", "identifier:not",
                                  "identifier:text", "general-practitioner", "general-practitioner:Practitioner",
                                  "general-practitioner:identifier", "_profile", "_profile:below", "_profile:above"])
def test_client_text_is_only_ever_a_plain_value(name, hostile):
    request = parse_search("Patient", [(name, hostile.replace(",", "\\,")), (name, "a," + hostile.replace(",", "\\,"))],
                           strict=True)
    keys: list[str] = []
    leaves: list = []
    walk(search_filter(request, NOW), keys, leaves)
    assert all(FIELD.fullmatch(k) or k in OPERATORS for k in keys), keys
    assert all(isinstance(leaf, (str, float, bool)) for leaf in leaves)
    for node in _regexes(search_filter(request, NOW)):
        assert re.fullmatch(r"\^?(\\.|[^\\.*+?()\[\]{}|^$])*(\\\|[^\\$]*\$)?", node), node


def _regexes(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$regex"] + [r for v in node.values() for r in _regexes(v)]
    if isinstance(node, list):
        return [r for v in node for r in _regexes(v)]
    return []


def test_hostile_dates_and_numbers_are_refused():
    for value in ['{"$gt": ""}', "$where", ".*", "ge$where"]:
        with pytest.raises(BadRequest):
            parse_search("Patient", [("birthdate", value)], strict=False)
        with pytest.raises(BadRequest):
            numeric("number", value)
