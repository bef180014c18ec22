"""The value sets profiles bind to: FHIR ValueSets in profiles/value-sets/ (compose.include with concepts, or a
whole code system), the PDSm ones of profiles/pdsm-value-sets.json, and the value sets of the R4 package made
of code lists and whole code systems (the UCUM units of the vital-signs profiles, ucum-bodytemp...)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ..definitions import package_resource
from ..terminology import complete_code_system

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
# (the (system, code) pairs listed, the systems included whole)
Codes = tuple[set[tuple[str, str]], set[str]]


@lru_cache(maxsize=1)
def _value_sets() -> dict[str, Codes]:
    """url -> the codes of each value set we ship."""
    sets: dict[str, Codes] = {}
    for path in sorted((PROFILES / "value-sets").glob("*.json")):
        value_set = json.loads(path.read_text(encoding="utf-8"))
        sets[value_set["url"]] = _composed(value_set) or (set(), set())  # without compose: no code (as before)
    pdsm = json.loads((PROFILES / "pdsm-value-sets.json").read_text(encoding="utf-8"))
    for key in ("type", "category"):
        sets[pdsm[key]["url"]] = ({(c["system"], c["code"]) for c in pdsm[key]["concepts"]}, set())
    return sets


def _composed(value_set: dict) -> Codes | None:
    """The codes of a value set made of code lists and whole code systems (listed too when R4 defines them in
    full); None when it has filters, exclusions, other value sets or no compose."""
    compose = value_set.get("compose") or {}
    codes: set[tuple[str, str]] = set()
    systems: set[str] = set()
    if compose.get("exclude") or not compose.get("include"):
        return None
    for include in compose["include"]:
        if include.get("filter") or include.get("valueSet") or not include.get("system"):
            return None
        if include.get("concept"):
            codes |= {(include["system"], concept["code"]) for concept in include["concept"]}
        else:
            systems.add(include["system"])
            codes |= {(include["system"], code) for code in complete_code_system(include["system"]) or ()}
    return codes, systems


@lru_cache(maxsize=256)
def _codes(url: str) -> Codes | None:
    return _value_sets().get(url) or _composed(package_resource("ValueSet", url) or {})


def known(url: str) -> bool:
    return _codes(url.partition("|")[0]) is not None


def holds(url: str, system: str | None, code: str | None) -> bool:
    """Whether the value set has this code (a bare `code` matches any listed system; a whole code system that R4
    does not define in full, any code)."""
    codes, systems = _codes(url.partition("|")[0])
    if system is None:
        return any(code == listed for _, listed in codes) or any(complete_code_system(s) is None for s in systems)
    return (system, code) in codes or (system in systems and complete_code_system(system) is None)
