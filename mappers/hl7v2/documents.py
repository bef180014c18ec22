"""ORU^R01 (OBR + OBX) and MDM^T02, T10, T04 (TXA + OBX) -> a DocumentReference and the Binary entries of its
content, as the step of the document's life the message asks for (lifecycle.py): an initial transmission is
a new document; a replacement a new document that `replaces` the one it names (by its unique id: TXA-13, or
the CDA's parentDocument/id in an ORU); a deletion a conditional update of the document it names (TXA-12, or
the CDA's id in an ORU) to `entered-in-error`, which the server refuses when nothing matches.

The content is every OBX of type ED (encapsulated data: each one an attachment of the same document, e.g. a
PDF and its CDA); without any, a plain-text rendering of the results (ORU) or the text lines (MDM). The
metadata OBX segments (MetaDMPMSS) are no content: their visibility flags are security labels."""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import TypeVar

from ..cda.datatypes import identifier_criteria
from ..errors import MappingError
from . import embedded
from .datatypes import concept, entity_identifier, practitioner, timestamp
from .lifecycle import A_STEP, DELETION, INITIAL, REPLACEMENT, is_metadata, metadata_labels, step
from .message import Message, Segment, Value
from .tables import TABLES

TEXT_TYPES = ("TX", "FT")
LOINC_CODE = re.compile(r"\d{1,8}-\d")
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
    labels: list[dict] = field(default_factory=list)  # the visibility flags' security labels
    step: str = INITIAL
    cda_authors: tuple[dict, ...] = ()  # the embedded CDA's authors (Practitioners), when HL7 names none


def results_entries(message: Message, subject: str, warnings: list[MappingError]) -> list[dict]:
    """ORU^R01: one document for the message, described by its first OBR. In the CI-SIS volet (ORC-1 NW, RO
    or CA) the document is the CDA it carries, known by the CDA's id."""
    groups = _groups(message, "OBR")
    obr = groups[0][0]
    everything = [obx for _, group in groups for obx in group]
    observations = [obx for obx in everything if not is_metadata(obx)]
    documents = [obx for obx in observations if obx.get(2) == "ED"]
    name = step(message, "results", documents)
    contents = [_encapsulated(obx) for obx in documents] or [_report(groups, observations)]
    type_ = concept(obr.repetitions(4)[0]) if obr.repetitions(4) else None
    if not type_:
        raise MappingError("OBR-4 (universal service identifier) is required", "101", obr.at(4))
    cda = _cda(contents)
    master, replaces = _identifier(message, obr, 3), None
    if name is not None:
        if cda is None and name != INITIAL:
            where = documents[0].at(5) if documents else obr.at(4)
            raise MappingError(f"{where}: {A_STEP[name]} in an ORU names its document by the id of the CDA it "
                               f"carries (ClinicalDocument/id), and the message carries no CDA", "101", where)
        if cda is not None:
            master = cda.id
            replaces = cda.replaces if name == REPLACEMENT else None
            if name == REPLACEMENT and replaces is None:
                raise MappingError(f"{documents[0].at(5)}: a replacement names the document it replaces in its "
                                   f"CDA (relatedDocument[@typeCode='RPLC']/parentDocument/id), which is "
                                   f"missing", "101", documents[0].at(5))
    metadata = Metadata(
        type=type_, doc_status=TABLES["result_status"].get(obr.get(25)),
        master=master, start=timestamp(obr.get(7), obr.at(7)),
        date=_instant((obr, 22), (obr, 7), (message.header, 7)),
        authors=() if cda and cda.authors else (_people(*((obx, 16) for obx in observations)) or _people((obr, 16))),
        replaces=replaces, labels=metadata_labels([obx for obx in everything if is_metadata(obx)], warnings),
        step=name or INITIAL, cda_authors=cda.authors if cda else ())
    return _entries(message, obr, subject, metadata, contents)


def document_entries(message: Message, subject: str, warnings: list[MappingError]) -> list[dict]:
    """MDM^T02, T10, T04: the document the TXA describes (TXA-12 its unique id, TXA-13 in a replacement the
    one it replaces), its content in the OBX segments after it."""
    groups = _groups(message, "TXA")
    if len(groups) > 1:
        raise MappingError("An MDM message describes one document: a second TXA was found", "100",
                           groups[1][0].at(1))
    txa, everything = groups[0]
    observations = [obx for obx in everything if not is_metadata(obx)]
    if not observations:
        raise MappingError("The message has no document OBX segment, only metadata", "100", everything[0].at(1))
    encapsulated = [obx for obx in observations if obx.get(2) == "ED"]
    name = step(message, "document", encapsulated)
    contents = [_encapsulated(obx) for obx in encapsulated] or [_lines(txa, observations)]
    type_ = _document_type(txa.repetitions(2)[0], observations[0]) if txa.repetitions(2) else None
    if not type_:
        raise MappingError("TXA-2 (document type) is required", "101", txa.at(2))
    if not txa.get(17):
        raise MappingError("TXA-17 (document completion status) is required", "101", txa.at(17))
    master = _identifier(message, txa, 12)
    if master is None and name != INITIAL:
        raise MappingError(f"TXA-12 (unique document number) is required in {A_STEP[name]}: it names the "
                           f"document", "101", txa.at(12))
    replaces = _identifier(message, txa, 13)
    if replaces is None and name == REPLACEMENT:
        raise MappingError("TXA-13 (parent document number) is required in a replacement: it names the document "
                           "replaced", "101", txa.at(13))
    if replaces is not None and name != REPLACEMENT:
        warnings.append(MappingError(f"TXA-13 (parent document number) is not acted on in {A_STEP[name]}: "
                                     f"only a replacement (T10) replaces a document", "207", txa.at(13)))
        replaces = None
    cda = _cda(contents)
    people = _people((txa, 9)) or _people((txa, 5))
    metadata = Metadata(
        type=type_, status=_coded(txa, 19, TABLES["availability_status"], "current"),
        doc_status=_coded(txa, 17, TABLES["completion_status"], None),
        master=master, start=timestamp(txa.get(4), txa.at(4)),
        date=_instant((txa, 6), (txa, 4), (message.header, 7)),
        authors=people, replaces=replaces,
        confidentiality=_coded(txa, 18, TABLES["confidentiality"]["codes"], TABLES["confidentiality"]["default"]),
        labels=metadata_labels([obx for obx in everything if is_metadata(obx)], warnings), step=name,
        cda_authors=cda.authors if cda and not people else ())
    return _entries(message, txa, subject, metadata, contents)


def _cda(contents: list[Content]) -> embedded.Header | None:
    """The header of the first content that is a CDA document."""
    return next((found for content in contents if (found := embedded.header(content.data, content.content_type))),
                None)


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


def _document_type(value: Value, document: Segment) -> dict | None:
    """TXA-2: a CE (LOINC in France) or an HL7 table 0270 code. A code alone (the CI-SIS volet writes TXA-2
    as a bare code of JDV_J07-XdsTypeCode-CISIS) takes the coding the document OBX-3 gives it, else LOINC
    when it has the shape of a LOINC code."""
    known = TABLES["document_types"]
    code = value.get(1)
    if not value.get(3) and code in known["codes"]:
        return {"coding": [{"system": known["system"], "code": code, "display": known["codes"][code]}]}
    if code and not value.get(3):
        coded = concept(document.repetitions(3)[0]) if document.repetitions(3) else None
        if coded and "coding" in coded and coded["coding"][0]["code"] == code:
            return coded
        if LOINC_CODE.fullmatch(code):
            return {"coding": [{"system": TABLES["coding_systems"]["LN"], "code": code,
                                **({"display": value.get(2)} if value.get(2) else {})}]}
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


def _report(groups: list[tuple[Segment, list[Segment]]], results: list[Segment]) -> Content:
    """The results as plain text: per OBR its service, then one line per result OBX."""
    blocks = []
    for obr, observations in groups:
        lines = [_label(obr.repetitions(4)[0]) if obr.repetitions(4) else obr.at(4)]
        lines += [_result_line(obx) for obx in observations if obx in results]
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
    """The DocumentReference entry (a conditional update of the document named, for a deletion), then one
    Binary entry per content."""
    document_url = message.full_url(segment, "DocumentReference")
    document: dict = {"resourceType": "DocumentReference"}
    authors, contained = _authors(metadata.authors)
    for person in metadata.cda_authors:
        contained.append(person)
        authors.append({"reference": f"#{person['id']}"})
    if contained:
        document["contained"] = contained
    if metadata.master:
        document["masterIdentifier"] = metadata.master
    document["status"] = "entered-in-error" if metadata.step == DELETION else metadata.status
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
                                              "code": metadata.confidentiality}]}, *metadata.labels]
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
    request = {"method": "POST", "url": "DocumentReference"}
    if metadata.step == DELETION:
        request = {"method": "PUT", "url": f"DocumentReference?{identifier_criteria(metadata.master)}"}
    return [{"fullUrl": document_url, "resource": document, "request": request}, *binaries]


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
