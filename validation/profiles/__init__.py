"""A resource against one of our profiles (profiles/structure-definitions/*.json): the checks of every
element of the profile's differential (checks.py), driven by the StructureDefinition data alone.

Slicing: a slice (`Patient.identifier:INS-NIR`) takes the repetitions whose discriminator paths (type
`value` or `pattern`) equal the fixed or pattern value the slice's own child element gives (for identifiers,
`system`; a dotted path such as `code.coding.code` through nested slices, `Observation.component:SystolicBP
.code.coding:SBPCode.code`, any of the values it leads to); its cardinality and its children's checks apply to
those repetitions.

`profile_issues(resource, definition)` applies any such StructureDefinition (the R4 vital-signs profiles,
vital_signs.py), its differential alone: the caller applies its base profiles too.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ..issues import Issue
from .checks import element_issues
from .nodes import contains, values_at

DEFINITIONS = Path(__file__).resolve().parents[2] / "profiles" / "structure-definitions"


@lru_cache(maxsize=1)
def known_profiles() -> dict[str, dict]:
    """url -> StructureDefinition, for each profile we ship."""
    found = {}
    for path in sorted(DEFINITIONS.glob("*.json")):
        definition = json.loads(path.read_text(encoding="utf-8"))
        found[definition["url"]] = definition
    return found


def validate_profile(resource: dict, profile_url: str) -> list[Issue]:
    """Every way `resource` departs from the profile ([] when it conforms; never raises)."""
    definition = known_profiles().get(profile_url)
    if definition is None:
        return [Issue("error", "not-found", "", f"The profile {profile_url} is not known to this server")]
    if not isinstance(resource, dict) or resource.get("resourceType") != definition["type"]:
        found = resource.get("resourceType") if isinstance(resource, dict) else None
        return [Issue("error", "invalid", "", f"The profile {profile_url} is for {definition['type']}, not {found}")]
    return profile_issues(resource, definition)


def profile_issues(resource: dict, definition: dict) -> list[Issue]:
    """Every way `resource` (of the definition's type) departs from the definition's differential."""
    elements = definition["differential"]["element"]
    cached = _slice_tests.get(id(elements))
    if cached is None or cached[0] is not elements:
        if len(_slice_tests) >= 64:
            _slice_tests.clear()
        cached = _slice_tests[id(elements)] = (elements, _slice_test(elements))
    in_slice = cached[1]
    memo: dict = {}
    issues = [issue for element in elements for issue in element_issues(resource, element, in_slice, memo)]
    return list(dict.fromkeys(issues))


# id of a differential's elements -> (those elements, kept so that the id is not reused, their slice test)
_slice_tests: dict[int, tuple] = {}


def _slice_test(elements: list[dict]):
    """Whether a repetition belongs to a slice, from the slice's discriminators and its children's values."""
    by_id = {element.get("id", element["path"]): element for element in elements}
    discriminators = {element.get("id", element["path"]): element["slicing"].get("discriminator", [])
                      for element in elements if "slicing" in element}
    # (slice id, discriminator path) -> the fixed or pattern value of the slice's element at that path
    expected_values: dict[tuple[str, str], object] = {}
    for element_id, element in by_id.items():
        value = next((v for k, v in element.items() if k.startswith(("fixed", "pattern"))), None)
        if value is None or ":" not in element_id:
            continue
        parts = element_id.split(".")
        for index, part in enumerate(parts):
            if ":" in part:  # this element below each slice on its id
                below = ".".join(step.partition(":")[0] for step in parts[index + 1:])
                if below:
                    expected_values.setdefault((".".join(parts[:index + 1]), below), value)

    def in_slice(slice_id: str, value: object) -> bool:
        sliced = slice_id.rpartition(":")[0]
        for discriminator in discriminators.get(sliced, []):
            expected = expected_values.get((slice_id, discriminator["path"]))
            if expected is None or not any(contains(found, expected)
                                           for found in values_at(value, discriminator["path"])):
                return False
        return True
    return in_slice
