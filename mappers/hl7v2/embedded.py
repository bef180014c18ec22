"""What a CDA R2 document carried in an OBX (ED) says of itself: its id, the id of the document it replaces
and its authors, read as the CDA mapper (mappers/cda) reads them, so that a document pushed as CDA and the
same document pushed in HL7 v2 have one masterIdentifier and either can replace the other."""
from __future__ import annotations

from dataclasses import dataclass

from ..cda import parse_document
from ..cda.datatypes import identifier
from ..cda.header import DOCUMENT, unique_id
from ..cda.nodes import every, first
from ..cda.participants import practitioner
from ..errors import MappingError

XML_TYPES = ("text/xml", "application/xml", "application/cda+xml", "application/hl7-cda+xml")


@dataclass(frozen=True)
class Header:
    id: dict  # ClinicalDocument/id as an Identifier
    replaces: dict | None  # relatedDocument[@typeCode='RPLC']/parentDocument/id
    authors: tuple[dict, ...]  # author/assignedAuthor with an assignedPerson, as Practitioners


def header(data: bytes, content_type: str) -> Header | None:
    """The header of a CDA document, None when `data` is no CDA (or its header has no id)."""
    if content_type not in XML_TYPES:
        return None
    try:
        root = parse_document(data)
        master = unique_id(root)
        parents = [identifier(first(related, "parentDocument/id"), f"{DOCUMENT}/relatedDocument/parentDocument/id")
                   for related in every(root, "relatedDocument")
                   if related.get("typeCode") == "RPLC" and first(related, "parentDocument/id") is not None]
        authors = tuple(practitioner(role, f"author{n}", f"{DOCUMENT}/author[{n}]/assignedAuthor")
                        for n, role in enumerate((first(author, "assignedAuthor") for author in every(root, "author")),
                                                 start=1)
                        if role is not None and first(role, "assignedPerson") is not None)
    except MappingError:
        return None
    return Header(master, next((parent for parent in parents if parent), None), authors)
