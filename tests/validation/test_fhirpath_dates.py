"""Dates compared as dates in the invariants, and an invariant that evaluates to nothing fails
(validation/fhirpath.py): per-1 on a Period, HL7 test encounter-period.json."""
from __future__ import annotations

import pytest
from fhirpathpy.engine.nodes import ResourceNode

from validation import validate_resource
from validation.fhirpath import compiled, holds

NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">A</div>'}


def period_issues(start: str, end: str) -> list[str]:
    encounter = {"resourceType": "Encounter", "text": NARRATIVE, "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                 "period": {"start": start, "end": end}}
    return [f"{i.key} {i.path}" for i in validate_resource(encounter, invariants=True)]


@pytest.mark.parametrize("start, end", [
    ("2023-06-21", "2023-06-22"),
    ("2023-06-21T06:20:00Z", "2023-06-21T06:20:00Z"),
    ("2023-06-21", "2023-06-22T06:20:00Z"),  # different precisions, different days
    ("2023-06-21T10:00:00+05:00", "2023-06-21T06:00:00Z"),  # 05:00Z before 06:00Z, though "10" > "06"
    ("2023", "2024-01-01"),
])
def test_a_period_whose_start_is_not_after_its_end(start, end):
    assert period_issues(start, end) == []


@pytest.mark.parametrize("start, end", [
    ("2023-06-22", "2023-06-21"),
    ("2023-06-21T06:00:00Z", "2023-06-21T10:00:00+05:00"),  # 06:00Z after 05:00Z, though "06" < "10"
    # the same day at different precisions: the comparison is empty (unknown), so per-1 is not true
    # (FHIRPath: "the result is empty"; an invariant holds only when it evaluates to true)
    ("2023-06-21", "2023-06-21T06:20:00Z"),
])
def test_per_1_a_period_whose_start_is_after_its_end_or_unknown(start, end):
    assert period_issues(start, end) == ["per-1 Encounter.period"]


def test_dates_compare_as_dates_not_strings():
    def evaluate(expression: str, period: dict) -> list:
        return compiled(expression)(ResourceNode.create_node(period, "Period"), {})
    period = {"start": "2023-06-21T10:00:00+05:00", "end": "2023-06-21T06:00:00Z"}
    assert evaluate("start <= end", period) == [True]
    assert evaluate("start > end", period) == [False]
    assert evaluate("start <= end", {"start": "2023-06-21", "end": "2023-06-21T06:20:00Z"}) == []


def test_an_invariant_holds_only_when_true():
    node = {"start": "2023-06-21"}
    assert holds("start.exists()", node, "Period", {}) is True
    assert holds("end.exists()", node, "Period", {}) is False
    assert holds("end", node, "Period", {}) is False  # empty: not true
    assert holds("start", node, "Period", {}) is True  # a value: true, as the HL7 validator converts it
