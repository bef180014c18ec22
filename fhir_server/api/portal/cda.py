"""A CDA R2 document as people read it: its title and each section's title and text (the human-readable part
every CDA must carry), or the PDF of a non-XML body."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from lxml import etree

NS = {"cda": "urn:hl7-org:v3"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass
class Readable:
    title: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, text)
    pdf: bytes | None = None


def is_cda(content: bytes) -> bool:
    return b"ClinicalDocument" in content[:2000] and content.lstrip()[:1] == b"<"


def readable(content: bytes) -> Readable:
    """What a CDA says in words; an unreadable one says so rather than failing."""
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError:
        return Readable("Document illisible")
    found = Readable(_text(root.find("cda:title", NS)))
    for section in root.iterfind(".//cda:section", NS):
        found.sections.append((_text(section.find("cda:title", NS)), _text(section.find("cda:text", NS))))
    body = root.find(".//cda:nonXMLBody/cda:text", NS)
    if body is not None and body.get("mediaType") == "application/pdf" and body.get("representation") == "B64":
        try:
            found.pdf = base64.b64decode("".join(body.itertext()), validate=False)
        except (binascii.Error, ValueError):
            found.pdf = None
    return found


def _text(element) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""
