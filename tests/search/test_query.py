"""Query string -> SearchRequest: criteria, control parameters, strict and lenient handling, malformed values."""
from __future__ import annotations

import pytest

from fhir_server.errors import BadRequest
from fhir_server.search.query import parse_search, split_values


def parse(*items: tuple[str, str], strict: bool = False, resource_type: str = "Patient"):
    return parse_search(resource_type, list(items), strict)


def test_criteria_keep_order_modifier_values_and_parameter():
    request = parse(("family:exact", "Dupont"), ("gender", "male,female"), ("family", "Du"))
    assert [(c.code, c.modifier, c.values) for c in request.criteria] == [
        ("family", "exact", ["Dupont"]), ("gender", None, ["male", "female"]), ("family", None, ["Du"])]
    assert request.criteria[1].param.type == "token"
    assert request.ignored == [] and request.problems == []


def test_escaped_comma_stays_in_the_value():
    assert split_values(r"a\,b,c") == ["a,b", "c"]
    assert parse(("family", r"O\,Brien,Smith")).criteria[0].values == ["O,Brien", "Smith"]


def test_empty_values_are_ignored():
    request = parse(("family", ""), ("given", "a,,b"))
    assert [(c.code, c.values) for c in request.criteria] == [("given", ["a", "b"])]


def test_control_parameters():
    request = parse(("_count", "10"), ("_offset", "20"), ("_sort", "family,-birthdate"), ("_total", "accurate"),
                    ("_summary", "count"), ("_elements", "name, gender"),
                    ("_format", "json"), ("_pretty", "true"))
    assert (request.count, request.offset, request.sort) == (10, 20, [("family", False), ("birthdate", True)])
    assert (request.total, request.summary, request.elements) == ("accurate", "count", ["name", "gender"])
    assert request.criteria == [] and request.ignored == []


def test_defaults():
    request = parse()
    assert (request.count, request.offset, request.sort, request.total, request.summary) == (None, 0, [], None, None)


def test_total_estimate_is_answered_accurately():
    assert parse(("_total", "estimate")).total == "accurate"


@pytest.mark.parametrize("name, value", [
    ("_count", "abc"), ("_count", "-1"), ("_count", "1.5"), ("_count", "²"), ("_count", "9" * 5000),
    ("_offset", "x"), ("_sort", "nosuch"), ("_sort", "-nosuch"), ("_total", "some"), ("_summary", "yes"),
    ("_elements", "name,$where"),
])
def test_malformed_control_parameters_are_bad_requests(name, value):
    with pytest.raises(BadRequest, match=f"'{name}'"):
        parse((name, value))


def test_sort_on_a_composite_parameter_is_a_bad_request():
    with pytest.raises(BadRequest, match="relationship"):
        parse(("_sort", "relationship"), resource_type="DocumentReference")


def test_repeated_single_control_parameter_is_a_bad_request():
    with pytest.raises(BadRequest, match="_count"):
        parse(("_count", "1"), ("_count", "2"))


@pytest.mark.parametrize("name, value", [
    ("birthdate", "2020-13"), ("birthdate", "yesterday"), ("birthdate", "ge2020-02-30"), ("_lastUpdated", "x"),
    ("birthdate", "xx2020"), ("birthdate", "2020,bogus"),
])
def test_malformed_dates_are_bad_requests_even_when_lenient(name, value):
    with pytest.raises(BadRequest, match=name):
        parse((name, value))


def test_unknown_prefix_is_named():
    with pytest.raises(BadRequest, match="birthdate': unknown prefix 'xx'"):
        parse(("birthdate", "xx2020"))


def test_malformed_missing_and_of_type_values_are_bad_requests():
    with pytest.raises(BadRequest, match="true or false"):
        parse(("family:missing", "yes"))
    with pytest.raises(BadRequest, match="single true or false"):
        parse(("family:missing", "true,false"))
    with pytest.raises(BadRequest, match="system\\|code\\|value"):
        parse(("identifier:of-type", "sys|MR"))


@pytest.mark.parametrize("name", [
    "nosuch", "family:sounds", "gender:in", "general-practitioner:Patient", "general-practitioner:PractitionerRole.role",
    "_has:Observation:patient:code", "general-practitioner:PractitionerRole.name",
])
def test_unsupported_parameters_are_ignored_when_lenient(name):
    request = parse((name, "x"), ("family", "Du"))
    assert request.ignored == [name]
    assert len(request.problems) == 1 and name.split(":")[0].split(".")[0] in request.problems[0]
    assert [c.code for c in request.criteria] == ["family"]
    assert request.self_query() == [("family", "Du")]


@pytest.mark.parametrize("name", ["nosuch", "family:sounds", "general-practitioner:PractitionerRole.role",
                                  "_has:Observation:patient:code"])
def test_unsupported_parameters_are_bad_requests_when_strict(name):
    with pytest.raises(BadRequest, match=name.split(":")[0].split(".")[0]):
        parse((name, "x"), strict=True)


def test_composite_parameter_is_ignored_or_refused():
    request = parse(("relationship", "a$b"), resource_type="DocumentReference")
    assert request.ignored == ["relationship"] and "composite" in request.problems[0]
    with pytest.raises(BadRequest, match="relationship"):
        parse(("relationship", "a$b"), resource_type="DocumentReference", strict=True)


def test_supported_modifiers_are_accepted_when_strict():
    request = parse(("family:exact", "A"), ("family:contains", "b"), ("gender:not", "male"), ("gender:text", "m"),
                    ("identifier:of-type", "s|MR|1"), ("general-practitioner:Practitioner", "1"),
                    ("general-practitioner:identifier", "s|1"), ("birthdate:missing", "true"), strict=True)
    assert [c.modifier for c in request.criteria] == [
        "exact", "contains", "not", "text", "of-type", "Practitioner", "identifier", "missing"]


def test_every_prefix_is_accepted_on_dates_numbers_and_quantities():
    for prefix in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"):
        assert parse(("birthdate", f"{prefix}2020-01")).criteria[0].values == [f"{prefix}2020-01"]


def test_self_query_is_canonical():
    request = parse(("family", r"O\,Brien,Smith"), ("nosuch", "1"), ("gender:not", "male"), ("_count", "5"),
                    ("_sort", "-birthdate"), ("_offset", "0"), ("_total", "none"), ("_summary", "data"),
                    ("_elements", "name"), ("_format", "xml"))
    assert request.self_query() == [
        ("family", r"O\,Brien,Smith"), ("gender:not", "male"), ("_sort", "-birthdate"), ("_count", "5"),
        ("_total", "none"), ("_summary", "data"), ("_elements", "name")]
