"""The mapping tables (the JSON files beside this module) and the code system look-ups built on them."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from ..errors import MappingError

OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def table(name: str) -> dict:
    """The parsed `<name>.json` of this folder."""
    return json.loads((_HERE / f"{name}.json").read_text(encoding="utf-8"))


SCHEMES = table("schemes")
SUBMISSION_SET = SCHEMES["submissionSet"]
DOCUMENT_ENTRY = SCHEMES["documentEntry"]
CODES = table("code_systems")


def system_of(scheme: str, where: str) -> str:
    """The FHIR code system URI of an XDS codingScheme."""
    if scheme in CODES["systems"]:
        return CODES["systems"][scheme]
    if OID.fullmatch(scheme):
        return f"urn:oid:{scheme}"
    raise MappingError(f"{where}: codingScheme {scheme!r} is neither an OID nor a known nomenclature",
                       "XDSRegistryMetadataError", where)


def scheme_of(system: str | None, where: str) -> str:
    """The XDS codingScheme of a FHIR code system URI."""
    known = {uri: scheme for scheme, uri in CODES["systems"].items()} | CODES["aliases"]
    if system in known:
        return known[system]
    if system and system.startswith("urn:oid:") and OID.fullmatch(system[8:]):
        return system[8:]
    raise MappingError(f"{where}: code system {system!r} has no XDS codingScheme", "XDSRegistryError", where)
