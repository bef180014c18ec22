"""CDA R2 data types (II, CD, PN, AD, TEL) as FHIR R4 ones."""
from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlencode

from ..errors import MappingError
from . import tables
from .nodes import Element, every, first, local_name, text

RFC3986 = "urn:ietf:rfc:3986"
BIRTH_LIST_GIVEN_NAME = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name"
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_UUID = re.compile(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_USED = {"CL", "SP"}  # EntityNamePartQualifier: call me, spouse (CI-SIS: the name used)
_NAME_PARTS = ("family", "given", "prefix", "suffix")
_ADDRESS_PARTS = (("city", "city"), ("district", "county"), ("state", "state"), ("postalCode", "postalCode"),
                  ("country", "country"))
_BARE = ("phone", "fax", "email")  # written without their URL scheme


def uid_uri(uid: str, where: str) -> str:
    """An OID or UUID root as urn:oid: or urn:uuid:."""
    if _OID.fullmatch(uid):
        return f"urn:oid:{uid}"
    if _UUID.fullmatch(uid):
        return f"urn:uuid:{uid.lower()}"
    raise MappingError(f"{where}: {uid!r} is neither an OID nor a UUID", "value", where)


def identifier(ii: Element, where: str) -> dict | None:
    """An II as FHIR maps it: root and extension as system urn:oid:<root> and value, a root alone as the
    value (urn:oid: or urn:uuid:) with system urn:ietf:rfc:3986; None for a nullFlavor."""
    root = (ii.get("root") or "").strip()
    if ii.get("nullFlavor") or not root:
        return None
    uri = uid_uri(root, f"{where}/@root")
    extension = (ii.get("extension") or "").strip()
    if not extension:
        return {"system": RFC3986, "value": uri}
    return {**tables.identifier_type(root), "system": uri, "value": extension}


def identifiers(element: Element, where: str) -> list[dict]:
    """The Identifiers of the element's ids."""
    found = (identifier(ii, f"{where}/id[{n}]") for n, ii in enumerate(every(element, "id"), 1))
    return [value for value in found if value]


def identifier_criteria(value: dict) -> str:
    """`identifier=system|value`, for a conditional create or reference (commas escaped, URL-encoded)."""
    token = f"{value['system']}|{value['value']}".replace(",", r"\,")
    return urlencode([("identifier", token)], safe=":/|^")


def system_uri(oid: str, where: str) -> str:
    return tables.system_uri(oid) or uid_uri(oid, where)


def coding(cd: Element, where: str) -> dict | None:
    code = (cd.get("code") or "").strip()
    if not code:
        return None
    if not _CODE.fullmatch(code):
        raise MappingError(f"{where}/@code: {code!r} is not a valid code", "value", f"{where}/@code")
    result = {"system": system_uri(cd.get("codeSystem").strip(), f"{where}/@codeSystem")} \
        if cd.get("codeSystem") else {}
    result["code"] = code
    display = " ".join((cd.get("displayName") or "").split())
    if display:
        result["display"] = display
    return result


def concept(cd: Element | None, where: str) -> dict | None:
    """A CD and its translations as a CodeableConcept, the originalText as its text; None when nothing is
    coded."""
    if cd is None:
        return None
    elements = [(cd, where), *((t, f"{where}/translation[{n}]") for n, t in enumerate(every(cd, "translation"), 1))]
    codings = [found for found in (coding(element, at) for element, at in elements) if found]
    result: dict = {"coding": codings} if codings else {}
    original = text(first(cd, "originalText"))
    if original:
        result["text"] = original
    return result or None


def _uses(element: Element, table: str) -> str | None:
    found = (tables.vocabulary(table, code) for code in (element.get("use") or "").split())
    return next((use for use in found if use), None)


class _Part(NamedTuple):
    kind: str
    qualifiers: frozenset[str]
    value: str


def _values(parts: list[_Part], kind: str) -> list[str]:
    return [part.value for part in parts if part.kind == kind]


def human_names(pn: Element) -> list[dict]:
    """A PN as HumanNames. A name with parts qualified BR (birth) is CI-SIS's pair of names: the birth name
    (official when the PN has no use) and, from the parts qualified CL or SP, the name used (usual)."""
    if pn.get("nullFlavor"):
        return []
    parts = [_Part(local_name(part), frozenset((part.get("qualifier") or "").split()), text(part)) for part in pn
             if local_name(part) in _NAME_PARTS and text(part)]
    if not parts:
        whole = text(pn)
        return [{"text": whole}] if whole else []
    birth = any("BR" in part.qualifiers for part in parts)
    use = _uses(pn, "nameUse") or ("official" if birth and not pn.get("use") else None)
    if not birth:
        return [_name(parts, use)]
    main = [part for part in parts if not part.qualifiers & _USED]
    used = [part for part in parts if part.qualifiers & _USED]
    return ([_name(main, use)] if main else []) + ([_name(used, "usual")] if used else [])


def _name(parts: list[_Part], use: str | None) -> dict:
    """One HumanName; when some parts are qualified BR, the BR family and given names make the name and the
    unqualified given names are FR Core's birth list of given names (CI-SIS)."""
    birth = [part for part in parts if "BR" in part.qualifiers]
    listed = [part.value for part in parts if part.kind == "given" and not part.qualifiers]
    result: dict = {}
    if _values(birth, "given") and listed:
        result["extension"] = [{"url": BIRTH_LIST_GIVEN_NAME, "valueString": " ".join(listed)}]
    for key, value in (("use", use), ("family", " ".join(_values(birth, "family") or _values(parts, "family"))),
                       ("given", _values(birth, "given") or _values(parts, "given")),
                       ("prefix", _values(parts, "prefix")), ("suffix", _values(parts, "suffix"))):
        if value:
            result[key] = value
    return result


def address(ad: Element) -> dict | None:
    """An AD as an Address: streetAddressLine, or houseNumber and streetName, then unitID, additionalLocator
    and postBox as lines; its text when it has no parts."""
    if ad.get("nullFlavor"):
        return None
    street = " ".join(value for value in (text(first(ad, "houseNumber")), text(first(ad, "streetName"))) if value)
    lines = [value for value in (*map(text, every(ad, "streetAddressLine")), street,
                                 *(text(first(ad, step)) for step in ("unitID", "additionalLocator", "postBox")))
             if value]
    result: dict = {"line": lines} if lines else {}
    result.update((key, value) for key, value in ((key, text(first(ad, step))) for key, step in _ADDRESS_PARTS)
                  if value)
    if not result:
        whole = text(ad)
        if not whole:
            return None
        result = {"text": whole}
    use = _uses(ad, "addressUse")
    return {"use": use, **result} if use else result


def addresses(element: Element) -> list[dict]:
    return [value for value in map(address, every(element, "addr")) if value]


def telecom(tel: Element) -> dict | None:
    """A TEL as a ContactPoint: the URL scheme gives the system (tel: phone, mailto: email...)."""
    value = (tel.get("value") or "").strip()
    if tel.get("nullFlavor") or not value:
        return None
    scheme, colon, rest = value.partition(":")
    system = tables.vocabulary("telecomSystem", scheme.lower()) if colon else None
    result = {"system": system or "other", "value": rest.strip() if system in _BARE else value}
    use = _uses(tel, "telecomUse")
    if use:
        result["use"] = use
    return result if result["value"] else None


def telecoms(element: Element) -> list[dict]:
    return [value for value in map(telecom, every(element, "telecom")) if value]
