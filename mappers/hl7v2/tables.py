"""The mapping tables (`tables.json` beside this module) and the look-ups built on them."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
TABLES: dict = json.loads((Path(__file__).resolve().parent / "tables.json").read_text(encoding="utf-8"))


def reverse(table: dict[str, str]) -> dict[str, str]:
    """FHIR code -> v2 code: the first v2 code listed for each FHIR code."""
    inverse: dict[str, str] = {}
    for v2_code, fhir_code in table.items():
        inverse.setdefault(fhir_code, v2_code)
    return inverse


def coding_system(abbreviation: str) -> str | None:
    """The FHIR system of an HL7 table 0396 coding system abbreviation (CE-3), when known."""
    return TABLES["coding_systems"].get(abbreviation)


def abbreviation_of(system: str) -> str | None:
    """The HL7 coding system abbreviation of a FHIR system, when known."""
    return reverse(TABLES["coding_systems"]).get(system)


def identifier_type_system(code: str) -> str | None:
    """The code system holding an identifier type code (v2-0203 or FR Core's), when known."""
    return next((system for system, codes in TABLES["identifier_type_systems"].items() if code in codes), None)


def local_system(sender: str, namespace: str) -> str:
    """The system of identifiers assigned by a namespace that has no OID (or by the sender itself, with no
    namespace, or its own name): `urn:id:<sender>:<namespace>`, so that two senders' namespaces of the same
    name never mix. An MDM^T02 out writes it as a URI (HD-3 `URI`), so it comes back unchanged."""
    parts = [sender, namespace] if namespace and namespace != sender else [sender]
    return TABLES["local_identifier_prefix"] + ":".join(quote(part, safe="-._~") for part in parts)


def is_local_system(system: str) -> bool:
    return system.startswith(TABLES["local_identifier_prefix"])
