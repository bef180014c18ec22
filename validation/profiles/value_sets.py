"""The value sets our profiles bind to: FHIR ValueSets in profiles/value-sets/ (compose.include with
concepts, or a whole code system) and the PDSm ones of profiles/pdsm-value-sets.json."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

PROFILES = Path(__file__).resolve().parents[2] / "profiles"


@lru_cache(maxsize=1)
def _value_sets() -> dict[str, tuple[set[tuple[str, str]], set[str]]]:
    """url -> (the (system, code) pairs listed, the systems included whole)."""
    sets: dict[str, tuple[set[tuple[str, str]], set[str]]] = {}
    for path in sorted((PROFILES / "value-sets").glob("*.json")):
        value_set = json.loads(path.read_text(encoding="utf-8"))
        codes: set[tuple[str, str]] = set()
        systems: set[str] = set()
        for include in (value_set.get("compose") or {}).get("include") or []:
            if include.get("concept"):
                codes |= {(include["system"], concept["code"]) for concept in include["concept"]}
            else:
                systems.add(include["system"])
        sets[value_set["url"]] = (codes, systems)
    pdsm = json.loads((PROFILES / "pdsm-value-sets.json").read_text(encoding="utf-8"))
    for key in ("type", "category"):
        sets[pdsm[key]["url"]] = ({(c["system"], c["code"]) for c in pdsm[key]["concepts"]}, set())
    return sets


def known(url: str) -> bool:
    return url.partition("|")[0] in _value_sets()


def holds(url: str, system: str | None, code: str | None) -> bool:
    """Whether the value set has this code (a bare `code` matches any listed system)."""
    codes, systems = _value_sets()[url.partition("|")[0]]
    if system is None:
        return any(code == listed for _, listed in codes)
    return system in systems or (system, code) in codes
