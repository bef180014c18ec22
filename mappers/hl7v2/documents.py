"""ORU^R01 (OBR + OBX) and MDM^T02 (TXA + OBX) -> a DocumentReference and the Binary entries of its content.

The content is every OBX of type ED (encapsulated data: each one an attachment of the same document, e.g. a
PDF and its CDA); without any, a plain-text rendering of the results (ORU) or the text lines (MDM)."""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import TypeVar

from ..errors import MappingError
from .datatypes import concept, entity_identifier, practitioner, timestamp
from .message import Message, Segment, Value
from .tables import TABLES

TEXT_TYPES = ("TX", "FT")
Default = TypeVar("Default", str, None)


@dataclass(frozen=True)
class Content:
    data: bytes
    content_type: str
    segment: Segment  # the OBX (or OBR, TXA for a rendered text) it comes from


@dataclass(frozen=True)
class Metadata:
    type: dict
    status: str = "current"
    doc_status: str | None = None
    master: dict | None = None
    date: str | None = None
    start: str | None = None
    authors: tuple[tuple[Value, str], ...] = ()  # XCN values with their locations
    replaces: dict | None = None
    confidentiality: str = TABLES["confidentiality"]["default"]


def results_entries(message: Message, subject: str) -> list[dict]:
    """ORU^R01: one document for the message, described by its first OBR."""
    groups = _groups(message, "OBR")
    obr = groups[0][0]
    observations = [obx for _, group in groups for obx in group]
    contents = [_encapsulated(obx) for obx in observations if obx.get(2) == "ED"] or [_report(groups)]
    type_ = concept(obr.repetitions(4)[0]) if obr.repetitions(4) else None
    if not type_:
        raise MappingError("OBR-4 (universal service identifier) is required", "101", obr.at(4))
    metadata = Metadata(
        type=type_, doc_status=TABLES["result_status"].get(obr.get(25)),
        master=_identifier(message, obr, 3), start=timestamp(obr.get(7), obr.at(7)),
        date=_instant((obr, 22), (obr, 7), (message.header, 7)),
        authors=_people(*((obx, 16) for obx in observations)) or _people((obr, 16)))
    return _entries(message, obr, subject, metadata, contents)


def document_entries(message: Message, subject: str) -> list[dict]:
    """MDM^T02: the document the TXA describes, its content in the OBX segments after it."""
    groups = _groups(message, "TXA")
    if len(groups) > 1:
        raise MappingError("An MDM message describes one document: a second TXA was found", "100",
                           groups[1][0].at(1))
    txa, observations = groups[0]
    contents = [_encapsulated(obx) for obx in observations if obx.get(2) == "ED"] or [_lines(txa, observations)]
    type_ = _document_type(txa.repetitions(2)[0]) if txa.repetitions(2) else None
    if not type_:
        raise MappingError("TXA-2 (document type) is required", "101", txa.at(2))
    if not txa.get(17):
        raise MappingError("TXA-17 (document completion status) is required", "101", txa.at(17))
    metadata = Metadata(
        type=type_, status=_coded(txa, 19, TABLES["availability_status"], "current"),
        doc_status=_coded(txa, 17, TABLES["completion_status"], None),
        master=_identifier(message, txa, 12), start=timestamp(txa.get(4), txa.at(4)),
        date=_instant((txa, 6), (txa, 4), (message.header, 7)),
        authors=_people((txa, 9)) or _people((txa, 5)), replaces=_identifier(message, txa, 13),
        confidentiality=_coded(txa, 18, TABLES["confidentiality"]["codes"], TABLES["confidentiality"]["default"]))
    return _entries(message, txa, subject, metadata, contents)


def _groups(message: Message, head: str) -> list[tuple[Segment, list[Segment]]]:
    """Each `head` segment (OBR, TXA) with the OBX segments after it; PID must come before the first one."""
    groups: list[tuple[Segment, list[Segment]]] = []
    for segment in message.segments:
        if segment.name == head:
            groups.append((segment, []))
        elif segment.name == "OBX":
            if not groups:
                raise MappingError(f"OBX {segment.occurrence} comes before any {head} segment", "100", segment.at(1))
            groups[-1][1].append(segment)
        elif segment.name == "PID" and groups:
            raise MappingError(f"PID must come before the {head} segments", "100", segment.at(1))
    if not groups:
        raise MappingError(f"The message has no {head} segment", "100")
    if not any(group for _, group in groups):
        raise MappingError("The message has no OBX segment: no result, no document", "100")
    return groups


def _instant(*fields: tuple[Segment, int]) -> str | None:
    """The first of these TS fields that has a value, as an instant."""
    return next((timestamp(segment.get(field), segment.at(field), "instant")
                 for segment, field in fields if segment.get(field)), None)


def _people(*fields: tuple[Segment, int]) -> tuple[tuple[Value, str], ...]:
    """The XCN values of these fields, with their locations."""
    return tuple((value, segment.at(field, number)) for segment, field in fields
                 for number, value in enumerate(segment.repetitions(field), start=1) if value)


def _identifier(message: Message, segment: Segment, field: int) -> dict | None:
    value = segment.repetitions(field)
    return entity_identifier(value[0], segment.at(field), message.sender) if value else None


def _coded(segment: Segment, field: int, table: dict[str, str], default: Default) -> str | Default:
    code = segment.get(field)
    if not code:
        return default
    if code not in table:
        raise MappingError(f"{segment.at(field)} {code!r} is not one of {', '.join(table)}", "103", segment.at(field))
    return table[code]


def _document_type(value: Value) -> dict | None:
    """TXA-2: a CE (LOINC in France) or an HL7 table 0270 code."""
    known = TABLES["document_types"]
    code = value.get(1)
    if not value.get(3) and code in known["codes"]:
        return {"coding": [{"system": known["system"], "code": code, "display": known["codes"][code]}]}
    return concept(value)


def _encapsulated(obx: Segment) -> Content:
    """OBX-5 ED: source ^ type of data ^ data subtype ^ encoding (table 0299) ^ data."""
    value = obx.repetitions(5)[0] if obx.repetitions(5) else Value()
    encodings = {name.upper(): name for name in TABLES["ed_encodings"]}
    encoding = encodings.get(value.get(4).upper())
    if encoding is None:
        raise MappingError(f"{obx.at(5, component=4)} encoding {value.get(4)!r} is not one of "
                           f"{', '.join(TABLES['ed_encodings'])}", "103", obx.at(5, component=4))
    text, where = value.get(5), obx.at(5, component=5)
    try:
        if encoding == "Base64":
            data = base64.b64decode("".join(text.split()), validate=True)
        elif encoding == "Hex":
            data = bytes.fromhex(text)
        else:
            data = text.encode("utf-8")
    except (binascii.Error, ValueError):
        raise MappingError(f"{where} is not valid {encoding} data", "102", where) from None
    if not data:
        raise MappingError(f"{where} (the document) is empty", "101", where)
    return Content(data, _content_type(value.get(2), value.get(3)), obx)


def _content_type(kind: str, subtype: str) -> str:
    """The MIME type of ED type of data / subtype: `application^pdf`, `AP^PDF`, `TEXT^XML`, `IM^JPEG`..."""
    if kind.lower() in TABLES["mime_top_types"] and subtype:
        return f"{kind.lower()}/{subtype.lower()}"
    types = TABLES["mime_types"]
    return types.get(subtype.upper()) or types.get(kind.upper()) or "application/octet-stream"


def _report(groups: list[tuple[Segment, list[Segment]]]) -> Content:
    """The results as plain text: per OBR its service, then one line per OBX."""
    blocks = []
    for obr, observations in groups:
        lines = [_label(obr.repetitions(4)[0]) if obr.repetitions(4) else obr.at(4)]
        lines += [_result_line(obx) for obx in observations]
        blocks.append("\n".join(lines))
    return Content(("\n\n".join(blocks) + "\n").encode("utf-8"), "text/plain", groups[0][0])


def _result_line(obx: Segment) -> str:
    """`name (code): value units | ref range | flags H | status F`."""
    name = _label(obx.repetitions(3)[0]) if obx.repetitions(3) else obx.at(3)
    units = obx.get(6) or obx.get(6, 2)
    parts = [f"{name}: {' '.join(part for part in (_value_text(obx), units) if part)}"]
    flags = ",".join(value.get(1) for value in obx.repetitions(8) if value)
    for label, text in (("ref", obx.get(7)), ("flags", flags), ("status", obx.get(11))):
        if text:
            parts.append(f"{label} {text}")
    return " | ".join(parts)


def _lines(txa: Segment, observations: list[Segment]) -> Content:
    """MDM text: the OBX values, one line each (TX/FT repetitions are lines too)."""
    text = "\n".join(_value_text(obx) for obx in observations)
    if not text.strip():
        raise MappingError("The document text (OBX-5) is empty", "101", observations[0].at(5))
    return Content((text + "\n").encode("utf-8"), "text/plain", txa)


def _label(value: Value) -> str:
    code, text = value.get(1), value.get(2)
    return f"{text} ({code})" if text and code else text or code


def _value_text(obx: Segment) -> str:
    """OBX-5 as text: SN joined (`<5`, `1:2`), coded values by their text, other types' components spaced."""
    kind = obx.get(2)
    texts = []
    for value in obx.repetitions(5):
        if kind == "SN":
            texts.append("".join(value.get(n) for n in range(1, 5)))
        elif kind in ("CE", "CWE", "CNE"):
            texts.append(value.get(2) or value.get(1))
        else:
            texts.append(" ".join(value.get(n) for n in range(1, len(value) + 1) if value.get(n)))
    return ("\n" if kind in TEXT_TYPES else ", ").join(text for text in texts if text)


def _entries(message: Message, segment: Segment, subject: str, metadata: Metadata,
             contents: list[Content]) -> list[dict]:
    """The DocumentReference entry, then one Binary entry per content."""
    document_url = message.full_url(segment, "DocumentReference")
    document: dict = {"resourceType": "DocumentReference"}
    authors, contained = _authors(metadata.authors)
    if contained:
        document["contained"] = contained
    if metadata.master:
        document["masterIdentifier"] = metadata.master
    document["status"] = metadata.status
    if metadata.doc_status:
        document["docStatus"] = metadata.doc_status
    document["type"] = metadata.type
    document["subject"] = {"reference": subject}
    if metadata.date:
        document["date"] = metadata.date
    if authors:
        document["author"] = authors
    if metadata.replaces:
        document["relatesTo"] = [{"code": "replaces", "target": {"identifier": metadata.replaces}}]
    document["securityLabel"] = [{"coding": [{"system": TABLES["confidentiality"]["system"],
                                              "code": metadata.confidentiality}]}]
    binaries = []
    attachments = []
    for content in contents:
        url = message.full_url(content.segment, "Binary")
        attachments.append({"attachment": {
            "contentType": content.content_type, "url": url, "size": len(content.data),
            "hash": base64.b64encode(hashlib.sha1(content.data).digest()).decode("ascii")}})
        binaries.append({"fullUrl": url, "resource": {
            "resourceType": "Binary", "contentType": content.content_type,
            "securityContext": {"reference": document_url},
            "data": base64.b64encode(content.data).decode("ascii")},
            "request": {"method": "POST", "url": "Binary"}})
    document["content"] = attachments
    if metadata.start:
        document["context"] = {"period": {"start": metadata.start}}
    return [{"fullUrl": document_url, "resource": document, "request": {"method": "POST", "url": "DocumentReference"}},
            *binaries]


def _authors(people: tuple[tuple[Value, str], ...]) -> tuple[list[dict], list[dict]]:
    """XCN authors (each once): a contained Practitioner when named, else a reference by identifier."""
    authors: list[dict] = []
    contained: list[dict] = []
    seen: set[Value] = set()
    for value, where in people:
        if value in seen:
            continue
        seen.add(value)
        found, name = practitioner(value, where)
        if name:
            resource = {"resourceType": "Practitioner", "id": f"author{len(contained) + 1}",
                        **({"identifier": [found]} if found else {}), "name": [name]}
            contained.append(resource)
            authors.append({"reference": f"#{resource['id']}"})
        elif found:
            authors.append({"type": "Practitioner", "identifier": found})
    return authors, contained
