"""The codes of the code systems R4 defines in full (layer 5, terminology.html).

A Coding whose `system` is a code system of the R4 package with the content `complete` ("all the concepts
defined by the code system are included in the code system resource", codesystem-content-mode) names one of
its concepts, whatever the binding of the element: a code the code system does not define is no code of that
system (HL7 test contract-binding-test.json: Contract.legalState, an extensible binding). Codes are compared
as the code system says (`caseSensitive`); a Coding naming another `version` of the code system is not checked.
The code systems of terminologies R4 only names (SNOMED CT, LOINC, UCUM...) are not in the package.

A primitive whose binding is required and that has no value, only extensions (a data-absent-reason), holds
no code of the value set: "the concept in this element SHALL be from the specified value set"
(terminologies.html#required; HL7 test allergy.json, AllergyIntolerance.category).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .definitions import FHIR_VERSION, bundle_resources
from .issues import Issue

_BUNDLES = ("Bundle-valuesets.json", "Bundle-v2-valuesets.json", "Bundle-v3-valuesets.json")


@dataclass(frozen=True, slots=True)
class _CodeSystem:
    version: str
    case_sensitive: bool
    codes: frozenset[str]


@lru_cache(maxsize=1)
def _complete_code_systems() -> dict[str, _CodeSystem]:
    """url -> the codes of every code system of the package whose content is complete."""
    found = {}
    for name in _BUNDLES:
        for resource in bundle_resources(name):
            if resource.get("resourceType") == "CodeSystem" and resource.get("content") == "complete":
                case_sensitive = resource.get("caseSensitive", False) is True
                codes = {c if case_sensitive else c.casefold() for c in _codes(resource.get("concept", ()))}
                found[resource["url"]] = _CodeSystem(resource.get("version", FHIR_VERSION), case_sensitive,
                                                     frozenset(codes))
    return found


def _codes(concepts):
    for concept in concepts:
        if isinstance(concept.get("code"), str):
            yield concept["code"]
        yield from _codes(concept.get("concept", ()))


def coding_issues(coding: dict, path: str) -> list[Issue]:
    """A Coding whose code is not in its complete R4 code system."""
    system, code = coding.get("system"), coding.get("code")
    if not isinstance(system, str) or not isinstance(code, str):
        return []
    code_system = _complete_code_systems().get(system)
    if code_system is None or coding.get("version", code_system.version) != code_system.version:
        return []
    if (code if code_system.case_sensitive else code.casefold()) in code_system.codes:
        return []
    return [Issue("error", "code-invalid", f"{path}.code", f"Unknown code {code!r} in the code system {system} "
                                                          f"(version {code_system.version}, defined in full by R4)")]


def missing_code_issue(path: str) -> Issue:
    return Issue("error", "code-invalid", path, "No code: the binding is required, so the element holds a code of "
                                                "the value set (a data-absent-reason is no code)")
