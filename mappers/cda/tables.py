"""The mapping tables of this folder's JSON files (each names its sources)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def load(name: str) -> dict:
    """The parsed `<name>.json` of this folder."""
    return json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))


def system_uri(oid: str) -> str | None:
    """The FHIR URI of a code system OID, when it has one other than urn:oid:<oid>."""
    return load("code_systems")["systems"].get(oid)


def identifier_type(root: str) -> dict:
    """`use` and `type` of an Identifier with this root (France's INS, IDNPS, IDNST); {} for the others."""
    table = load("identifier_types")
    known = table["roots"].get(root)
    if known is None:
        return {}
    result = {"use": known["use"]} if "use" in known else {}
    result["type"] = {"coding": [{"system": table["typeSystem"], "code": known["code"],
                                  "display": known["display"]}]}
    return result


def vocabulary(table: str, code: str) -> str | None:
    """A FHIR code for a CDA one in vocabulary.json's `table` (gender, addressUse, relatedDocument...)."""
    return load("vocabulary")[table].get(code)


@lru_cache(maxsize=None)
def _formats() -> dict[str, tuple[str, str]]:
    return {template: (group["system"], code)
            for group in load("format_codes")["templates"] for template, code in group["codes"].items()}


def format_coding(template_ids: list[str], media_type: str | None) -> dict:
    """The format code of the first templateId that names a document model, else the unstructured body's
    code for its MIME type, else IHE's mimeTypeSufficient."""
    table, formats = load("format_codes"), _formats()
    for template in template_ids:
        if template in formats:
            system, code = formats[template]
            return {"system": system, "code": code}
    unstructured = table["unstructured"]
    code = unstructured["mediaTypes"].get(media_type or "")
    if unstructured["template"] in template_ids and code:
        return {"system": unstructured["system"], "code": code}
    return dict(table["default"])


def class_coding(code: str) -> dict:
    table = load("class_codes")
    coding = {"system": table["system"], "code": code}
    if code in table["displays"]:
        coding["display"] = table["displays"][code]
    return coding


def class_of_type(system: str | None, code: str) -> dict | None:
    """The TRE_A03 class coding of a document type (ASS_X16), or None when the table has none."""
    found = load("class_codes")["fromType"].get(system or "", {}).get(code)
    return class_coding(found) if found else None
