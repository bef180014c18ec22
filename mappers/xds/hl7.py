"""The HL7 v2 data types XDS metadata carries (DTM, CX, XCN, XON, XPN, XAD, coded strings), to FHIR and back.

An assigning authority is kept only in its ISO form (`&<oid>&ISO`), which becomes the system `urn:oid:<oid>`.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from ..errors import MappingError
from .tables import CODES, OID, scheme_of, system_of

_DTM = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?")
_NAME_USE_CODES = {use: code for code, use in CODES["nameUse"].items()}
_GENDER_CODES = {gender: code for code, gender in CODES["gender"].items()}


def components(value: str, count: int) -> list[str]:
    """The first `count` `^`-separated components of `value`, "" for absent ones."""
    parts = value.split("^")
    return parts[:count] + [""] * (count - len(parts))


def _join(parts: list[str]) -> str:
    return "^".join(parts).rstrip("^")


def authority(hd: str) -> str | None:
    """The OID of an ISO assigning authority `namespace&oid&ISO`, else None."""
    sub = hd.split("&")
    return sub[1] if len(sub) >= 3 and sub[2] == "ISO" and OID.fullmatch(sub[1]) else None


def dtm_to_fhir(value: str, where: str) -> str:
    """An XDS DTM (UTC, YYYY[MM[DD[hh[mm[ss]]]]]) as a FHIR date or dateTime."""
    match = _DTM.fullmatch(value)
    if not match or (match[3] is None and match[4] is not None):
        raise MappingError(f"{where}: {value!r} is not a DTM (YYYY[MM[DD[hh[mm[ss]]]]])", "XDSRegistryMetadataError",
                           where)
    year, month, day, hour, minute, second = match.groups()
    try:
        datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError as e:
        raise MappingError(f"{where}: {value!r} is not a real date: {e}", "XDSRegistryMetadataError", where) from e
    if hour is None:
        return "-".join(part for part in (year, month, day) if part)
    return f"{year}-{month}-{day}T{hour}:{minute or '00'}:{second or '00'}Z"


def fhir_to_dtm(value: str) -> str:
    """A FHIR date or dateTime as an XDS DTM, in UTC."""
    if "T" not in value:
        return value.replace("-", "")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    moment = moment.replace(tzinfo=moment.tzinfo or timezone.utc).astimezone(timezone.utc)
    return moment.strftime("%Y%m%d%H%M%S")


def identifier(value: str, hd: str, type_code: str = "") -> dict:
    """A FHIR Identifier from an id, its assigning authority (HD) and identifier type code (table 0203)."""
    result: dict = {}
    if type_code:
        result["type"] = {"coding": [{"system": CODES["identifierTypes"], "code": type_code}]}
    if oid := authority(hd):
        result["system"] = f"urn:oid:{oid}"
    result["value"] = value
    return result


def identifier_parts(ident: dict) -> tuple[str, str, str]:
    """(id, assigning authority HD, type code) of a FHIR Identifier."""
    system = ident.get("system") or ""
    hd = f"&{system[8:]}&ISO" if system.startswith("urn:oid:") else ""
    codings = (ident.get("type") or {}).get("coding") or [{}]
    return ident.get("value", ""), hd, codings[0].get("code", "")


def cx_to_identifier(cx: str) -> dict:
    parts = components(cx, 5)
    return identifier(parts[0], parts[3], parts[4])


def identifier_to_cx(ident: dict) -> str:
    value, hd, type_code = identifier_parts(ident)
    return _join([value, "", "", hd, type_code])


def _name(family: str, given: str, second: str, suffix: str, prefix: str, use: str, where: str) -> dict:
    name: dict = {}
    if use:
        if use not in CODES["nameUse"]:
            raise MappingError(f"{where}: name type code {use!r} is not one of {sorted(CODES['nameUse'])}",
                               "XDSRegistryMetadataError", where)
        name["use"] = CODES["nameUse"][use]
    if family:
        name["family"] = family
    if given or second:
        name["given"] = [part for part in (given, second) if part]
    if prefix:
        name["prefix"] = [prefix]
    if suffix:
        name["suffix"] = [suffix]
    return name


def _name_parts(name: dict) -> tuple[str, str, str, str, str, str]:
    """(family, given, further given names, suffix, prefix, name type code) of a HumanName."""
    given = name.get("given") or []
    return (name.get("family", ""), given[0] if given else "", " ".join(given[1:]), " ".join(name.get("suffix") or []),
            " ".join(name.get("prefix") or []), _NAME_USE_CODES.get(name.get("use", ""), ""))


def practitioner(xcn: str, resource_id: str, where: str) -> dict:
    """A Practitioner from an XCN (id, family, given, further given, suffix, prefix, authority, name type, id type)."""
    c = components(xcn, 13)
    result: dict = {"resourceType": "Practitioner", "id": resource_id}
    if c[0]:
        result["identifier"] = [identifier(c[0], c[8], c[12])]
    if name := _name(c[1], c[2], c[3], c[4], c[5], c[9], where):
        result["name"] = [name]
    return result


def xcn(resource: dict) -> str:
    value, hd, type_code = identifier_parts((resource.get("identifier") or [{}])[0])
    family, given, second, suffix, prefix, use = _name_parts((resource.get("name") or [{}])[0])
    return _join([value, family, given, second, suffix, prefix, "", "", hd, use, "", "", type_code])


def organization(xon: str, resource_id: str) -> dict:
    """An Organization from an XON (name, authority, id type code, id)."""
    c = components(xon, 10)
    result: dict = {"resourceType": "Organization", "id": resource_id}
    if c[9]:
        result["identifier"] = [identifier(c[9], c[5], c[6])]
    if c[0]:
        result["name"] = c[0]
    return result


def xon(resource: dict) -> str:
    value, hd, type_code = identifier_parts((resource.get("identifier") or [{}])[0])
    return _join([resource.get("name", ""), "", "", "", "", hd, type_code, "", "", value])


def concept(value: str, where: str) -> dict:
    """A CodeableConcept from an author role or specialty: `code^display^codingScheme` is coded, else text."""
    code, display, scheme, *rest = value.split("^") + ["", ""]
    if not code or not scheme or any(rest) or not (scheme in CODES["systems"] or OID.fullmatch(scheme)):
        return {"text": value}
    coding = {"system": system_of(scheme, where), "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def coded(value: dict, where: str) -> str:
    if codings := value.get("coding"):
        coding = codings[0]
        return "^".join([coding["code"], coding.get("display", ""), scheme_of(coding.get("system"), where)])
    return value.get("text", "")


def source_patient(source_patient_id: str, pid: list[str], where: str) -> dict:
    """The contained Patient of sourcePatientId and sourcePatientInfo (PID-3, -5, -7, -8, -11), the
    sourcePatientId first among its identifiers."""
    patient: dict = {"resourceType": "Patient", "id": "source-patient",
                     "identifier": [cx_to_identifier(source_patient_id)]}
    for value in pid:
        field, _, content = value.partition("|")
        for repeat in content.split("~"):
            if field == "PID-3" and repeat != source_patient_id:
                patient["identifier"].append(cx_to_identifier(repeat))
            elif field == "PID-5":
                c = components(repeat, 7)
                patient.setdefault("name", []).append(_name(c[0], c[1], c[2], c[3], c[4], c[6], where))
            elif field == "PID-7":
                patient["birthDate"] = dtm_to_fhir(repeat[:8], f"{where} PID-7")
            elif field == "PID-8":
                if repeat not in CODES["gender"]:
                    raise MappingError(f"{where}: PID-8 {repeat!r} is not one of {sorted(CODES['gender'])}",
                                       "XDSRegistryMetadataError", where)
                patient["gender"] = CODES["gender"][repeat]
            elif field == "PID-11":
                patient.setdefault("address", []).append(_address(repeat))
    return patient


def _address(xad: str) -> dict:
    street, other, city, state, postal, country = components(xad, 6)
    address: dict = {}
    if street or other:
        address["line"] = [line for line in (street, other) if line]
    for key, part in (("city", city), ("state", state), ("postalCode", postal), ("country", country)):
        if part:
            address[key] = part
    return address


def pid(patient: dict) -> tuple[str, list[str]]:
    """(sourcePatientId, sourcePatientInfo values) of a contained source Patient: one value per repetition."""
    identifiers = [identifier_to_cx(ident) for ident in patient.get("identifier") or []]
    values = [f"PID-3|{cx}" for cx in identifiers]
    for name in patient.get("name") or []:
        family, given, second, suffix, prefix, use = _name_parts(name)
        values.append(f"PID-5|{_join([family, given, second, suffix, prefix, '', use])}")
    if "birthDate" in patient:
        values.append(f"PID-7|{fhir_to_dtm(patient['birthDate'])}")
    if "gender" in patient:
        values.append(f"PID-8|{_GENDER_CODES[patient['gender']]}")
    for address in patient.get("address") or []:
        lines = (address.get("line") or []) + ["", ""]
        parts = [lines[0], " ".join(lines[1:]).strip()] + [address.get(key, "") for key in
                                                           ("city", "state", "postalCode", "country")]
        values.append(f"PID-11|{_join(parts)}")
    return (identifiers[0] if identifiers else ""), values
