"""XDS metadata as plain values: the XDS strings (CX, XCN, XON, DTM...) are kept as sent."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Code:
    """A coded attribute: nodeRepresentation, codingScheme slot, Name."""

    code: str
    scheme: str
    display: str | None = None


@dataclass(frozen=True)
class Author:
    """One author Classification: authorPerson (XCN), authorInstitution (XON), authorRole, authorSpecialty."""

    person: str | None = None
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()


@dataclass
class DocumentEntry:
    """An ExtrinsicObject (stable DocumentEntry). An ITI-41 request must give every attribute typed without
    None (ITI TF-3 4.3.1); a DocumentReference read back (MHD Minimal) may lack some."""

    entry_id: str
    unique_id: str
    patient_id: str
    mime_type: str
    class_code: Code | None
    type_code: Code | None
    format_code: Code | None
    facility_type: Code | None
    practice_setting: Code | None
    confidentiality: list[Code]
    creation_time: str | None
    language: str | None
    source_patient_id: str | None
    source_patient_info: list[str] = field(default_factory=list)
    events: list[Code] = field(default_factory=list)
    authors: list[Author] = field(default_factory=list)
    legal_authenticator: str | None = None
    service_start: str | None = None
    service_stop: str | None = None
    hash: str | None = None
    size: int | None = None
    title: str | None = None
    comments: str | None = None
    relations: list[tuple[str, str]] = field(default_factory=list)  # (relatesTo code, target entryUUID)


@dataclass
class Submission:
    """A Provide and Register Document Set-b request: the SubmissionSet, its DocumentEntries and documents."""

    message_id: str | None
    entry_id: str
    unique_id: str
    source_id: str
    patient_id: str
    submission_time: str
    content_type: Code
    authors: list[Author]
    documents: list[DocumentEntry]
    contents: dict[str, bytes]  # the document of each DocumentEntry, by entry_id
    title: str | None = None
    comments: str | None = None
