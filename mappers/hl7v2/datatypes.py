"""HL7 v2 data types read into FHIR R4 elements: TS, CX, EI, HD, XPN, XAD, XTN, XCN, CE/CWE."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ..errors import MappingError
from .message import Value
from .tables import OID, TABLES, coding_system, identifier_type_system, local_system

_TS = re.compile(r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?"
                 r"(?:([+-])(\d{2})(\d{2}))?")


def timestamp(value: str, where: str, kind: str = "dateTime") -> str | None:
    """An HL7 TS/DTM/DT as a FHIR `date`, `dateTime` or `instant`. A time without offset is in the local
    timezone (tables.json); an instant is completed to the second; a date keeps only the date."""
    if not value:
        return None
    match = _TS.fullmatch(value.strip())
    if not match:
        raise MappingError(f"{where}: {value!r} is not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])",
                           "102", where)
    year, month, day, hour, minute, second, fraction, sign, offset_hours, offset_minutes = match.groups()
    try:
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                          int(second or 0))
        if sign and int(offset_minutes) >= 60:
            raise ValueError("offset minutes")
        zone = (timezone((-1 if sign == "-" else 1) * timedelta(hours=int(offset_hours), minutes=int(offset_minutes)))
                if sign else ZoneInfo(TABLES["timezone"]))
    except ValueError:
        raise MappingError(f"{where}: {value!r} is not a real date/time", "102", where) from None
    if kind == "date" or (kind == "dateTime" and hour is None):
        return "-".join(part for part in (year, month, day) if part)
    local = moment.replace(tzinfo=zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%dT%H:%M:%S}{'.' + fraction if fraction else ''}{offset[:3]}:{offset[3:]}"


def authority_system(namespace: str, universal: str, universal_type: str, where: str) -> str | None:
    """The FHIR system of an assigning authority (HD): its ISO OID or URI, or the OID of a known namespace."""
    if universal and (universal_type == "ISO" or (not universal_type and OID.fullmatch(universal))):
        if not OID.fullmatch(universal):
            raise MappingError(f"{where}: {universal!r} is given as an ISO OID but is not one", "102", where)
        return f"urn:oid:{universal}"
    if universal and universal_type == "URI":
        return universal
    if OID.fullmatch(namespace):
        return f"urn:oid:{namespace}"
    if namespace in TABLES["namespaces"]:
        return f"urn:oid:{TABLES['namespaces'][namespace]}"
    return None


def identifier(number: str, authority: tuple[str, str, str], type_code: str, where: str,
               sender: str = "") -> dict | None:
    """An Identifier from an id, its assigning authority (HD components) and its type code (table 0203). With
    a `sender` (the sending facility), an authority without OID, or none, is taken as local to the sender."""
    if not number:
        return None
    system = authority_system(*authority, where) or (local_system(sender, authority[0]) if sender else None)
    ins_type = TABLES["ins"].get(system[8:]) if system and system.startswith("urn:oid:") else None
    result: dict = {"use": "official"} if ins_type else {}
    code = ins_type or type_code
    if code:
        type_system = identifier_type_system(code)
        result["type"] = {"coding": [{"system": type_system, "code": code}]} if type_system else {"text": code}
    if system:
        result["system"] = system
    result["value"] = number
    if authority[0]:
        result["assigner"] = {"display": authority[0]}
    return result


def patient_identifier(value: Value, where: str, sender: str = "") -> dict | None:
    """CX: ID ^ check digit ^ scheme ^ assigning authority (HD) ^ type code ^ facility ^ from ^ to."""
    result = identifier(value.get(1), (value.get(4, 1), value.get(4, 2), value.get(4, 3)), value.get(5), f"{where}.4",
                        sender)
    period = {key: date for key, field in (("start", 7), ("end", 8))
              if (date := timestamp(value.get(field), f"{where}.{field}", "date"))}
    if result and period:
        result["period"] = period
    return result


def entity_identifier(value: Value, where: str, sender: str = "") -> dict | None:
    """EI: entity id ^ namespace ^ universal id ^ universal id type. A bare OID becomes an RFC 3986 URN; an id
    of a namespace without OID is local to the `sender` (see `identifier`)."""
    number = value.get(1)
    if not number:
        return None
    authority = (value.get(2), value.get(3), value.get(4))
    if OID.fullmatch(number) and authority_system(*authority, f"{where}.3") is None:
        assigner = {"assigner": {"display": authority[0]}} if authority[0] else {}
        return {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{number}", **assigner}
    return identifier(number, authority, "", f"{where}.3", sender)


def human_name(family: str, given: str, middle: str, suffix: str, prefix: str, name_type: str) -> dict | None:
    """A HumanName from the XPN / XCN parts; further given names are separated by spaces (HL7 2.A.88)."""
    result: dict = {}
    if name_type in TABLES["name_use"]:
        result["use"] = TABLES["name_use"][name_type]
    if family:
        result["family"] = family
    givens = [name for name in [given, *middle.split()] if name]
    if givens:
        result["given"] = givens
    for key, part in (("prefix", prefix), ("suffix", suffix)):
        if part:
            result[key] = [part]
    return result if set(result) - {"use"} else None


def person_name(value: Value) -> dict | None:
    """XPN: family (FN) ^ given ^ further given names ^ suffix ^ prefix ^ degree ^ name type."""
    return human_name(value.get(1), value.get(2), value.get(3), value.get(4), value.get(5), value.get(7))


def address(value: Value) -> dict | None:
    """XAD: street (SAD) ^ other designation ^ city ^ state ^ zip ^ country ^ type ^ other geography ^ county."""
    result: dict = {}
    if value.get(7) in TABLES["address_use"]:
        result["use"] = TABLES["address_use"][value.get(7)]
    lines = [line for line in (value.get(1), value.get(2)) if line]
    if lines:
        result["line"] = lines
    for key, field in (("city", 3), ("district", 9), ("state", 4), ("postalCode", 5), ("country", 6)):
        if value.get(field):
            result[key] = value.get(field)
    return result if set(result) - {"use"} else None


def contact_point(value: Value, default_use: str) -> dict | None:
    """XTN: number ^ use (0201) ^ equipment (0202) ^ email ^ country ^ area ^ local ^ ... ^ unformatted (12)."""
    equipment = TABLES["telecom_equipment"].get(value.get(3), {})
    system = equipment.get("system") or ("email" if value.get(2) == "NET" else "phone")
    if system == "email":
        number = value.get(4) or value.get(1)
    else:
        composed = "".join(part for part in ("+" + value.get(5) if value.get(5) else "", value.get(6), value.get(7)))
        number = value.get(1) or value.get(12) or composed
    if not number:
        return None
    use = equipment.get("use") or TABLES["telecom_use"].get(value.get(2)) or default_use
    return {"system": system, "value": number, "use": use}


def practitioner(value: Value, where: str) -> tuple[dict | None, dict | None]:
    """XCN (id ^ family ^ given ^ further given ^ suffix ^ prefix ^ degree ^ source ^ authority (9) ^ name type
    ^ ... ^ identifier type (13)): its Identifier and its HumanName, each None when absent."""
    found = identifier(value.get(1), (value.get(9, 1), value.get(9, 2), value.get(9, 3)), value.get(13),
                       f"{where}.9")
    name = human_name(value.get(2), value.get(3), value.get(4), value.get(5), value.get(6), value.get(10))
    return found, name


def concept(value: Value) -> dict | None:
    """CE/CWE: the codings of known coding systems (tables.json), else the text (or the bare code)."""
    codings = []
    for code, display, abbreviation in ((value.get(1), value.get(2), value.get(3)),
                                        (value.get(4), value.get(5), value.get(6))):
        system = coding_system(abbreviation)
        if code and system:
            codings.append({"system": system, "code": code, **({"display": display} if display else {})})
    if codings:
        return {"coding": codings}
    text = value.get(2) or value.get(5) or value.get(1)
    return {"text": text} if text else None
