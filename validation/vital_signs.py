"""The R4 vital-signs profiles, applied to every Observation that carries a vital sign's LOINC code (layer 5).

observation-vitalsigns.html: "If a vital sign is sent, it SHALL conform to the profile": each profile of the
R4 package derived from http://hl7.org/fhir/StructureDefinition/vitalsigns (bodytemp, heartrate, bp,
oxygensat...) fixes the LOINC code of its vital sign (`Observation.code.coding:BodyTempCode.code` 8310-5 with
the system http://loinc.org); an Observation whose code has that LOINC coding is checked against that
profile and the profiles it derives from (vitalsigns: category vital-signs, a subject, an effective[x]
precise to the day (vs-1), a value or a data-absent-reason (vs-2, vs-3), UCUM units from the profile's value
sets...), each one's differential by `profiles.profile_issues`. Nothing is listed here: the profiles and
their codes are read from the package (Bundle-profiles-others.json), once, on the first Observation with a
LOINC code. Other codes of the same measure (SNOMED CT, other LOINC codes) are a terminology's knowledge,
not R4's: they do not bring the profile in. The units' value sets are bound with the strength required in the
profiles, but the page says of its table of codes and UCUM units "These are extensible bindings": a unit
outside them is a warning (as the official validator reports it).
"""
from __future__ import annotations

from functools import lru_cache

from .definitions import bundle_resources
from .issues import Issue
from .profiles import profile_issues

VITAL_SIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
LOINC = "http://loinc.org"
_PROFILES_BUNDLE = "Bundle-profiles-others.json"


@lru_cache(maxsize=1)
def profiles_by_code() -> dict[str, tuple[dict, ...]]:
    """The LOINC code of each vital sign -> its profile and those it derives from (base first)."""
    definitions = {resource["url"]: resource for resource in bundle_resources(_PROFILES_BUNDLE)
                   if resource.get("resourceType") == "StructureDefinition" and resource.get("type") == "Observation"
                   and resource.get("derivation") == "constraint"}
    found: dict[str, tuple[dict, ...]] = {}
    for definition in definitions.values():
        chain = [definition]
        while chain[0].get("baseDefinition") in definitions:
            chain.insert(0, definitions[chain[0]["baseDefinition"]])
        code = _fixed_loinc_code(definition)
        if code and chain[0]["url"] == VITAL_SIGNS and len(chain) > 1:
            found[code] = tuple(chain)
    return found


def _fixed_loinc_code(definition: dict) -> str | None:
    """The code a profile fixes in a slice of Observation.code.coding whose system is fixed to LOINC."""
    elements = {element.get("id", ""): element for element in definition.get("differential", {}).get("element", ())}
    for element_id, element in elements.items():
        if element_id.startswith("Observation.code.coding:") and element_id.endswith(".code") \
                and element_id.count(".") == 3 and "fixedCode" in element:
            system = elements.get(element_id[:-len("code")] + "system", {})
            if system.get("fixedUri") == LOINC:
                return element["fixedCode"]
    return None


def vital_signs_issues(observation: dict, path: str) -> list[Issue]:
    """How an Observation (at `path`: `Observation`, `Bundle.entry[0].resource`) departs from the vital-signs
    profiles its LOINC codes call for."""
    code = observation.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    if not isinstance(codings, list):
        return []
    loinc = sorted({c["code"] for c in codings if isinstance(c, dict) and c.get("system") == LOINC
                    and isinstance(c.get("code"), str)})
    if not loinc:
        return []
    profiles = {definition["url"]: definition for code in loinc for definition in profiles_by_code().get(code, ())}
    issues = []
    for url, definition in profiles.items():
        for issue in profile_issues(observation, definition):
            where = path + issue.path[len("Observation"):] if issue.path.startswith("Observation") else path
            severity = "warning" if issue.code == "code-invalid" else issue.severity
            issues.append(Issue(severity, issue.code, where,
                                f"{issue.message} (vital-signs profile {url}, which R4 requires of this code)",
                                key=issue.key))
    return issues
