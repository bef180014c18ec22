"""A hardened parse of CDA bytes: bounded size, no DOCTYPE (so no DTD, no entity, no network access), a
ClinicalDocument root."""
from __future__ import annotations

from lxml import etree

from ..errors import MappingError
from .nodes import HL7

MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
ROOT = f"{{{HL7}}}ClinicalDocument"


class _Doctype(Exception):
    pass


class _Root(Exception):
    pass


class _Prolog:
    """A parser target that stops at a DOCTYPE, before its declarations are read, or at the root element."""

    def doctype(self, *_: object) -> None:
        raise _Doctype

    def start(self, *_: object) -> None:
        raise _Root

    def close(self) -> None:
        return None


def _parser(target: _Prolog | None = None) -> etree.XMLParser:
    return etree.XMLParser(target=target, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_pis=True, remove_comments=True)


def _parse(document: bytes, target: _Prolog | None = None) -> etree._Element:
    try:
        return etree.fromstring(document, _parser(target))
    except etree.XMLSyntaxError as error:
        last = error.error_log.last_error  # the error that stopped this parse (the log is per thread)
        raise MappingError(f"The document is not well-formed XML: {last.message}", "structure",
                           f"line {last.line}, column {last.column}") from None


def parse_document(document: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """The ClinicalDocument element of `document`; MappingError when it is too big, not well-formed XML,
    has a DOCTYPE (refused before its declarations are read) or is not a CDA document."""
    if not isinstance(document, bytes):
        raise TypeError(f"A CDA document is given as bytes, not {type(document).__name__}")
    if len(document) > max_bytes:
        raise MappingError(f"The document has {len(document)} bytes, more than the {max_bytes} accepted",
                           "too-long", "/")
    try:
        _parse(document, _Prolog())
    except _Doctype:
        raise MappingError("The document has a DOCTYPE declaration: DTDs and entities are refused in CDA documents",
                           "security", "/") from None
    except _Root:
        pass
    root = _parse(document)
    if root.tag != ROOT:
        name = etree.QName(root)
        found = f"{{{name.namespace}}}{name.localname}" if name.namespace else f"{name.localname} (in no namespace)"
        raise MappingError(f"Not a CDA document: the root element is {found}, not ClinicalDocument in the {HL7} "
                           f"namespace", "structure", f"/{name.localname}")
    return root
