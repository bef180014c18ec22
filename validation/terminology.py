"""The codes of the code systems R4 defines in full (layer 5, terminology.html).

A Coding whose `system` is a code system FHIR itself defines (`http://hl7.org/fhir/...`, version 4.0.1) with
the content `complete` ("all the concepts defined by the code system are included in the code system
resource", codesystem-content-mode) names one of its concepts, whatever the binding of the element: a code
the code system does not define is no code of that system (HL7 test contract-binding-test.json:
Contract.legalState, an extensible binding). Codes are compared as the code system says (`caseSensitive`); a
Coding naming another `version` of the code system is not checked. The code systems R4 only copies are
left alone: those of terminology.hl7.org (v2 tables, v3, and the FHIR ones moved there) are maintained by
HL7 Terminology and gain codes after R4 (v2-0203 NNFIN, valid today, is not in R4's copy), and terminologies
R4 only names (SNOMED CT, LOINC, UCUM, DICOM...) are not in the package or not in full.

A primitive whose binding is required and that has no value, only extensions (a data-absent-reason), holds
no code of the value set: "the concept in this element SHALL be from the specified value set"
(terminologies.html#required; HL7 test allergy.json, AllergyIntolerance.category).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .definitions import FHIR_VERSION, bundle_resources
from .issues import Issue

_BUNDLE = "Bundle-valuesets.json"  # the code systems FHIR defines (the v2 and v3 ones are in two others)
FHIR_DEFINED = "http://hl7.org/fhir/"


@dataclass(frozen=True, slots=True)
class _CodeSystem:
    version: str
    case_sensitive: bool
    codes: frozenset[str]  # as written
    folded: frozenset[str]  # casefolded, for a code system that is not case sensitive

    def has(self, code: str) -> bool:
        return code in self.codes if self.case_sensitive else code.casefold() in self.folded


@lru_cache(maxsize=1)
def _complete_code_systems() -> dict[str, _CodeSystem]:
    """url -> the codes of every code system FHIR defines whose content is complete."""
    found = {}
    for resource in bundle_resources(_BUNDLE):
        if resource.get("resourceType") == "CodeSystem" and resource.get("content") == "complete" \
                and resource.get("url", "").startswith(FHIR_DEFINED):
            case_sensitive = resource.get("caseSensitive", False) is True
            codes = frozenset(_codes(resource.get("concept", ())))
            found[resource["url"]] = _CodeSystem(resource.get("version", FHIR_VERSION), case_sensitive, codes,
                                                 frozenset() if case_sensitive else
                                                 frozenset(code.casefold() for code in codes))
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
    if code_system.has(code):
        return []
    return [Issue("error", "code-invalid", f"{path}.code", f"Unknown code {code!r} in the code system {system} "
                                                          f"(version {code_system.version}, defined in full by R4)")]


def complete_code_system(url: str) -> frozenset[str] | None:
    """The codes of a code system R4 defines in full, or None."""
    code_system = _complete_code_systems().get(url)
    return code_system.codes if code_system else None


def missing_code_issue(path: str) -> Issue:
    return Issue("error", "code-invalid", path, "No code: the binding is required, so the element holds a code of "
                                                "the value set (a data-absent-reason is no code)")
