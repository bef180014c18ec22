"""from_fhir: a DocumentReference, its Binary and its Patient -> an MDM^T02 message (v2.5, UTF-8); a T10 for a
document that replaces another (CI-SIS volet: OBX-11 C, TXA-13 the document replaced)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from ..errors import MappingError
from .encoding import Separators, escape, segment_text
from .patient import BIRTH_PLACE
from .tables import OID, TABLES, abbreviation_of, identifier_type_system, reverse

_OUT = Separators()
_FHIR_TIME = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
                        r"(Z|[+-]\d{2}:\d{2})?)?)?)?")
Part = str | tuple[str, ...]  # a component: a value, or its subcomponents


def from_fhir(document_reference: dict, binary: dict | bytes, patient: dict, *, sender: str = "FHIR-SERVER",
              receiver: str = "", control_id: str | None = None, now: datetime | None = None) -> str:
    """MSH, EVN, PID, PV1, TXA and one OBX ED holding the document in base64; to_fhir reads it back into the
    same identifiers, names, birth date, sex, type, dates, authors, statuses, masterIdentifier and content.
    MappingError (code `required` or `invalid`) when the resources cannot make the message."""
    data, content_type = _content(document_reference, binary)
    stamp = (now or datetime.now(ZoneInfo(TABLES["timezone"]))).strftime("%Y%m%d%H%M%S%z")
    type_ = _concept(document_reference.get("type"))
    if not type_:
        raise MappingError("DocumentReference.type is required: it becomes TXA-2", "required", "DocumentReference.type")
    kind, _, subtype = content_type.partition("/")
    event, status = ("T10", "C") if _replaced(document_reference) else ("T02", "F")
    segments = [
        ["MSH", _OUT.encoding_characters, _escape(sender), "", _escape(receiver), "", stamp, "", f"MDM^{event}^MDM_T02",
         _escape(control_id or uuid.uuid4().hex[:20].upper()), "P", "2.5", "", "", "", "", "", "UNICODE UTF-8"],
        ["EVN", event, stamp],
        _pid(patient),
        ["PV1", "1", "N"],
        _txa(document_reference, type_, "TEXT" if kind == "text" else "AP"),
        ["OBX", "1", "ED", type_, "", _join("", kind, subtype, "Base64", base64.b64encode(data).decode("ascii")),
         "", "", "", "", "", status],
    ]
    return "".join(segment_text(segment, _OUT) for segment in segments)


def _content(document: dict, binary: dict | bytes) -> tuple[bytes, str]:
    contents = document.get("content") or [{}]
    attachment = contents[0].get("attachment") or {}
    if isinstance(binary, bytes):
        data, content_type = binary, attachment.get("contentType")
    else:
        try:
            data = base64.b64decode(binary.get("data") or "", validate=True)
        except (binascii.Error, ValueError):
            raise MappingError("Binary.data is not base64", "invalid", "Binary.data") from None
        content_type = binary.get("contentType") or attachment.get("contentType")
    if not data:
        raise MappingError("The document is empty", "required", "Binary.data")
    if not content_type:
        raise MappingError("The document has no contentType", "required", "DocumentReference.content.attachment")
    size, digest = attachment.get("size"), attachment.get("hash")
    if (size is not None and size != len(data)) or (
            digest and digest != base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")):
        raise MappingError("The Binary is not the document the attachment describes (size or SHA-1 hash differ)",
                           "invalid", "DocumentReference.content.attachment")
    return data, content_type


def _pid(patient: dict) -> list[str]:
    identifiers = [_cx(found) for found in patient.get("identifier") or [] if found.get("value")]
    if not identifiers:
        raise MappingError("Patient.identifier is required: it becomes PID-3", "required", "Patient.identifier")
    names = [_xpn(name) for name in patient.get("name") or []]
    places = [extension["valueAddress"] for extension in patient.get("extension") or []
              if extension.get("url") == BIRTH_PLACE and "valueAddress" in extension]
    addresses = [_xad(found, _code(TABLES["address_use"], found.get("use"))) for found in patient.get("address") or []]
    addresses += [_xad(place, TABLES["birthplace_types"][0]) for place in places[:1]]
    telecom = patient.get("telecom") or []
    return ["PID", "1", "", _repeat(identifiers), "", _repeat(names), "", _ts(patient.get("birthDate")),
            _code(TABLES["sex"], patient.get("gender")), "", "", _repeat(addresses), "",
            _repeat([_xtn(point) for point in telecom if point.get("use") != "work"]),
            _repeat([_xtn(point) for point in telecom if point.get("use") == "work"])]


def _replaced(document: dict) -> list[dict]:
    """The identifiers of the documents this one replaces."""
    return [relation["target"]["identifier"] for relation in document.get("relatesTo") or []
            if relation.get("code") == "replaces" and "identifier" in (relation.get("target") or {})]


def _txa(document: dict, type_: str, presentation: str) -> list[str]:
    period = (document.get("context") or {}).get("period") or {}
    authors = [_xcn(author, document) for author in document.get("author") or []]
    replaced = _replaced(document)
    confidentiality = reverse(TABLES["confidentiality"]["codes"])
    labels = [confidentiality[coding["code"]] for label in document.get("securityLabel") or []
              for coding in label.get("coding") or []
              if coding.get("system") == TABLES["confidentiality"]["system"] and coding.get("code") in confidentiality]
    return ["TXA", "1", type_, presentation, _ts(period.get("start")), "", _ts(document.get("date")), "", "",
            _repeat([author for author in authors if author]), "", "", _ei(document.get("masterIdentifier")),
            _ei(replaced[0] if replaced else None), "", "", "",
            reverse(TABLES["completion_status"]).get(document.get("docStatus", ""), "AU"), labels[0] if labels else "",
            reverse(TABLES["availability_status"]).get(document.get("status", ""), "AV")]


def _cx(found: dict) -> str:
    """CX: value ^^^ assigning authority (namespace & OID or URI & type) ^ type code ^^ start ^ end."""
    period = found.get("period") or {}
    return _join(found["value"], "", "", _authority(found), _identifier_type(found), "",
                 _ts(period.get("start")), _ts(period.get("end")))


def _ei(found: dict | None) -> str:
    """EI: entity id ^ namespace ^ universal id ^ type; an `urn:oid:` URN (RFC 3986) is a bare OID."""
    if not found or not found.get("value"):
        return ""
    value = found["value"]
    if found.get("system") == "urn:ietf:rfc:3986" and value.startswith("urn:oid:") and OID.fullmatch(value[8:]):
        return _escape(value[8:])
    return _join(value, *_authority(found))


def _authority(found: dict) -> tuple[str, str, str]:
    """HD: the assigner's name, then the system as an ISO OID or a URI."""
    namespace = (found.get("assigner") or {}).get("display", "")
    system = found.get("system") or ""
    if system.startswith("urn:oid:"):
        return namespace, system[8:], "ISO"
    return (namespace, system, "URI") if system else (namespace, "", "")


def _identifier_type(found: dict) -> str:
    if found.get("system", "")[8:] in TABLES["ins"]:
        return TABLES["ins_type_code"]
    type_ = found.get("type") or {}
    codes = [coding["code"] for coding in type_.get("coding") or []
             if coding.get("code") and identifier_type_system(coding["code"]) == coding.get("system")]
    return codes[0] if codes else type_.get("text", "")


def _xpn(name: dict) -> str:
    """XPN: family ^ given ^ further given names ^ suffix ^ prefix ^^ name type."""
    given = name.get("given") or []
    return _join(name.get("family", ""), given[0] if given else "", " ".join(given[1:]),
                 (name.get("suffix") or [""])[0], (name.get("prefix") or [""])[0], "",
                 _code(TABLES["name_use"], name.get("use")))


def _xad(found: dict, kind: str) -> str:
    """XAD: street ^ other designation ^ city ^ state ^ zip ^ country ^ type ^^ county."""
    lines = found.get("line") or []
    return _join(lines[0] if lines else "", ", ".join(lines[1:]), found.get("city", ""), found.get("state", ""),
                 found.get("postalCode", ""), found.get("country", ""), kind, "", found.get("district", ""))


def _xtn(point: dict) -> str:
    """XTN: number ^ use (0201) ^ equipment (0202) ^ email."""
    system, use, value = point.get("system"), point.get("use"), point.get("value", "")
    if system == "email":
        return _join("", "NET", "Internet", value)
    wanted = {"system": system, "use": "mobile"} if use == "mobile" else {"system": system}
    equipment = next((code for code, meaning in TABLES["telecom_equipment"].items() if meaning == wanted), "")
    return _join(value, _code(TABLES["telecom_use"], "home" if use == "mobile" else use), equipment)


def _xcn(author: dict, document: dict) -> str:
    """XCN of an author: a contained Practitioner (`#id`), or a reference by identifier."""
    reference = author.get("reference", "")
    found = next((resource for resource in document.get("contained") or []
                  if reference.startswith("#") and resource.get("id") == reference[1:]), None)
    identifier = ((found.get("identifier") or [None])[0] if found else author.get("identifier")) or {}
    name = ((found or {}).get("name") or [{}])[0]
    if not identifier.get("value") and not name:
        return ""
    given = name.get("given") or []
    return _join(identifier.get("value", ""), name.get("family", ""), given[0] if given else "", " ".join(given[1:]),
                 (name.get("suffix") or [""])[0], (name.get("prefix") or [""])[0], "", "", _authority(identifier),
                 _code(TABLES["name_use"], name.get("use")), "", "", _identifier_type(identifier))


def _concept(concept: dict | None) -> str:
    """CE: code ^ display ^ coding system, for the first coding of a known system; else ^text."""
    concept = concept or {}
    for coding in concept.get("coding") or []:
        abbreviation = abbreviation_of(coding.get("system", ""))
        if abbreviation and coding.get("code"):
            return _join(coding["code"], coding.get("display", ""), abbreviation)
    return _join("", concept["text"]) if concept.get("text") else ""


def _ts(value: str | None) -> str:
    """A FHIR date, dateTime or instant as an HL7 TS (YYYYMMDDHHMMSS.SSSS+ZZZZ)."""
    match = _FHIR_TIME.fullmatch(value or "")
    if not match:
        return ""
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    digits = "".join(part or "" for part in (year, month, day, hour, minute, second))
    fraction = f".{fraction[:4]}" if fraction else ""
    offset = "+0000" if zone == "Z" else (zone or "").replace(":", "")
    return digits + fraction + offset


def _code(table: dict[str, str], fhir_code: str | None) -> str:
    return reverse(table).get(fhir_code or "", "")


def _join(*parts: Part) -> str:
    """Components, escaped (a tuple: subcomponents), trailing empty ones dropped."""
    written = [_OUT.subcomponent.join(_escape(sub) for sub in part).rstrip(_OUT.subcomponent)
               if isinstance(part, tuple) else _escape(part) for part in parts]
    return _OUT.component.join(written).rstrip(_OUT.component)


def _repeat(values: list[str]) -> str:
    return _OUT.repetition.join(values)


def _escape(text: str) -> str:
    return escape(text, _OUT)

