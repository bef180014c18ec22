"""The official R4 examples: ours all valid; none of the ~5300 files under 1 MB crashes the validator.

Only 12 official examples are refused, all of other types, each for a fault of the example itself
(listed in KNOWN_FAULTS with the element at fault); everything else in the package validates cleanly.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from validation import validate_resource
from validation.definitions import example_path
from tests.examples import SHARED_EXAMPLES, load

OUR_TYPES = ("Patient", "DocumentReference", "Consent", "AuditEvent", "Binary", "List", "Bundle", "OperationOutcome")
MAX_BYTES = 1_000_000
# Bundles of definitions (StructureDefinitions, value sets, search parameters...), not examples of Bundle.
DEFINITION_BUNDLES = frozenset({
    "Bundle-resources.json", "Bundle-types.json", "Bundle-searchParams.json", "Bundle-valuesets.json",
    "Bundle-v2-valuesets.json", "Bundle-v3-valuesets.json", "Bundle-valueset-expansions.json",
    "Bundle-dataelements.json", "Bundle-extensions.json", "Bundle-profiles-others.json",
    "Bundle-conceptmaps.json", "Bundle-terminologies.json", "Bundle-externals.json"})
_NO_BASE = "SearchParameter.base is 1..*; the search parameters generated for these extensions have none"
# file -> (issue code, element every issue is about, why the example itself is at fault)
KNOWN_FAULTS = {
    "Questionnaire-qs1.json": ("required", "linkId", "Questionnaire.item.linkId is 1..1; 32 nested items have none"),
    "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json":
        ("value", "id", "its id has 68 characters; an id has at most 64"),
    **{f"SearchParameter-{kind}-extensions-{resource}-{code}.json": ("required", "base", _NO_BASE)
       for kind, resource in (("codesystem", "CodeSystem"), ("valueset", "ValueSet"))
       for code in ("author", "effective", "end", "keyword", "workflow")},
}


PACKAGE = example_path("x").parent


def _package_examples() -> dict[str, list[Path]]:
    """Every JSON file of the examples package under 1 MB, by the resource type its name starts with."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(PACKAGE.glob("*.json")):
        if path.stat().st_size < MAX_BYTES and path.name != "package.json":
            groups[path.name.split("-")[0]].append(path)
    return groups


PACKAGE_EXAMPLES = _package_examples()


def _ours() -> list[Path]:
    return [path for prefix in OUR_TYPES for path in PACKAGE_EXAMPLES[prefix] if path.name not in DEFINITION_BUNDLES]


@pytest.mark.parametrize("path", _ours(), ids=lambda path: path.name)
def test_official_examples_of_our_types_are_valid(path):
    assert validate_resource(load(path)) == []


@pytest.mark.skipif(not SHARED_EXAMPLES.is_dir(), reason="no ../shared/testdata")
@pytest.mark.parametrize("path", sorted(SHARED_EXAMPLES.glob("*.json")) if SHARED_EXAMPLES.is_dir() else [],
                         ids=lambda path: path.name)
def test_shared_examples_are_valid(path):
    assert validate_resource(load(path)) == []


@pytest.mark.parametrize("prefix", sorted(PACKAGE_EXAMPLES))
def test_every_official_example_validates_or_is_a_known_fault(prefix):
    """No error (a few official examples have empty narratives, which only gets a txt-2 warning)."""
    refused = {}
    for path in PACKAGE_EXAMPLES[prefix]:
        resource = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(resource, dict) and "resourceType" in resource:
            issues = [i for i in validate_resource(resource) if i.severity in ("error", "fatal")]
            if issues:
                refused[path.name] = issues
    expected = {name for name in KNOWN_FAULTS if name.split("-")[0] == prefix}
    assert set(refused) == expected, {name: refused[name][:3] for name in set(refused) - expected}
    for name, issues in refused.items():
        code, element, _why = KNOWN_FAULTS[name]
        assert all(i.code == code and i.path.endswith(f".{element}") for i in issues), issues


def test_known_faults_are_still_in_the_package():
    assert all(example_path(name).is_file() for name in KNOWN_FAULTS)
