"""Resource validation against the FHIR R4 (4.0.1) structure: pure functions, no web framework.

`validate_resource(resource)` returns every problem found as an `Issue` with its element path; it never
raises for invalid input; `invariants=True` adds the invariants of the R4 definitions and the Bundle rules.
`validate_profile(resource, url)` checks it against one of our profiles (`known_profiles()`,
profiles/structure-definitions; see `profiles/__init__.py`). The layers (see README.md): the official JSON
schema (`schema.py`), the fhir.resources R4 models (`models.py`), a few rules of the spec (`rules.py`), the
core extension definitions (`extensions.py`) and, when asked, the invariants of the R4 StructureDefinitions
with the Bundle and reference rules, the codes of the code systems FHIR defines and the R4 vital-signs
profiles (`invariants.py`).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from .extensions import extension_issues
from .invariants import invariant_issues
from .issues import Issue
from .models import model_issues
from .paths import sort_key
from .profiles import known_profiles, validate_profile
from .rules import rule_issues
from .schema import resource_types, schema_issues

__all__ = ["Issue", "known_profiles", "validate_profile", "validate_resource"]

# In this order: when two layers report the same problem (same path, code and key), the first one's message is kept.
_LAYERS: tuple[Callable[[dict], list[Issue]], ...] = (schema_issues, rule_issues, model_issues, extension_issues)


def validate_resource(resource: object, expected_type: str | None = None, invariants: bool = False,
                      lenient: bool = False) -> list[Issue]:
    """Every problem found in `resource` (a parsed JSON value), sorted by path; [] when it is valid R4.
    `invariants`: also the invariants of the R4 definitions, the Bundle and reference rules, core codes and
    the vital-signs profiles (invariants.py), as the server checks writes and $validate.
    `lenient`: the errors a write tolerates (`Issue.tolerated`) are warnings, as the server judges writes;
    otherwise they are errors, as the official validator judges them ($validate, fhir-validate)."""
    if not isinstance(resource, dict):
        return [Issue("error", "invalid", "", "A resource must be a JSON object")]
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in resource_types():
        found = "no resourceType" if resource_type is None else f"resourceType {resource_type!r}"
        return [Issue("error", "invalid", "", f"Not an R4 resource: {found}")]
    issues: list[Issue] = []
    if expected_type is not None and resource_type != expected_type:
        issues.append(Issue("error", "invalid", f"{resource_type}.resourceType",
                            f"Expected a {expected_type} resource, found {resource_type}"))
    for layer in (*_LAYERS, invariant_issues) if invariants else _LAYERS:
        try:
            issues.extend(layer(resource))
        except RecursionError:
            issues.append(Issue("error", "too-costly", "", "The resource is nested too deeply to be checked"))
    if lenient:
        issues = [replace(issue, severity="warning") if issue.tolerated else issue for issue in issues]
    return _merged(issues)


def _merged(issues: list[Issue]) -> list[Issue]:
    """One issue per (path, code, key), sorted by path."""
    unique: dict[tuple[str, str, str], Issue] = {}
    for issue in issues:
        unique.setdefault((issue.path, issue.code, issue.key), issue)
    return sorted(unique.values(), key=lambda issue: sort_key(issue.path))
