"""SOAP 1.2 envelopes, plain or MTOM/XOP (multipart/related), read with a hardened parser and written."""
from __future__ import annotations

import email.parser
import email.policy
import hashlib
import re
import uuid
from urllib.parse import unquote

from lxml import etree

from ..errors import MappingError

NS = {
    "soap": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "xop": "http://www.w3.org/2004/08/xop/include",
    "xdsb": "urn:ihe:iti:xds-b:2007",
    "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
}
SOAP_CONTENT_TYPE = "application/soap+xml; charset=UTF-8"
_DTD = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
_UNREADABLE = "XDSRepositoryMetadataError"


def q(prefix: str, local: str) -> str:
    """The Clark name of `prefix:local`."""
    return f"{{{NS[prefix]}}}{local}"


def parse_xml(data: bytes) -> etree._Element:
    """The root of well-formed XML without a DTD: no entity expansion, no network, no DOCTYPE."""
    if _DTD.search(data):
        raise MappingError("The SOAP message has a DOCTYPE or an entity declaration, which is refused", _UNREADABLE)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)  # one per call: not thread-safe
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError) as e:
        raise MappingError(f"The SOAP message is not well-formed XML: {e}", _UNREADABLE) from e
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise MappingError("The SOAP message has a DOCTYPE, which is refused", _UNREADABLE)
    return root


def read_message(body: bytes, content_type: str) -> tuple[etree._Element, dict[str, bytes]]:
    """The SOAP 1.2 Envelope of a request and, for MTOM, its other MIME parts by Content-ID (no brackets)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/soap+xml":
        envelope, parts = parse_xml(body), {}
    elif media == "multipart/related":
        envelope, parts = _read_multipart(body, content_type)
    else:
        raise MappingError(f"A SOAP 1.2 request is application/soap+xml or MTOM multipart/related, not {media!r}",
                           _UNREADABLE)
    if envelope.tag != q("soap", "Envelope"):
        raise MappingError(f"The message is not a SOAP 1.2 Envelope but {envelope.tag}", _UNREADABLE)
    return envelope, parts


def _read_multipart(body: bytes, content_type: str) -> tuple[etree._Element, dict[str, bytes]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head + body)
    parts = message.get_payload() if message.is_multipart() else None
    if not parts:
        raise MappingError("The MTOM message has no MIME parts", _UNREADABLE)
    by_id = {_content_id(part.get("Content-ID", "")): part.get_payload(decode=True) or b"" for part in parts}
    start = _content_id(message.get_param("start") or parts[0].get("Content-ID", ""))  # default: the first part
    if start not in by_id:
        raise MappingError(f"The MTOM message has no root part <{start}>", _UNREADABLE)
    return parse_xml(by_id.pop(start)), by_id


def _content_id(value: str) -> str:
    return value.strip().removeprefix("<").removesuffix(">")


def included(element: etree._Element, parts: dict[str, bytes]) -> bytes | None:
    """The bytes an xop:Include child of `element` points at (`cid:` URL), None without one."""
    include = element.find(q("xop", "Include"))
    if include is None:
        return None
    href = include.get("href", "")
    cid = unquote(href[4:]) if href.lower().startswith("cid:") else None
    if cid is None or cid not in parts:
        raise MappingError(f"xop:Include href {href!r} names no MIME part of the message", "XDSMissingDocument")
    return parts[cid]


def header(envelope: etree._Element, name: str) -> str | None:
    """The text of a WS-Addressing header (MessageID, Action...)."""
    value = envelope.findtext(f"{q('soap', 'Header')}/{q('wsa', name)}")
    return value.strip() if value else None


def envelope(action: str, relates_to: str | None, body: etree._Element) -> etree._Element:
    """A SOAP 1.2 Envelope answering with `action`, its MessageID derived from the answer and the request's."""
    root = etree.Element(q("soap", "Envelope"), nsmap={"soap": NS["soap"], "wsa": NS["wsa"]})
    head = etree.SubElement(root, q("soap", "Header"))
    etree.SubElement(head, q("wsa", "Action"), {q("soap", "mustUnderstand"): "true"}).text = action
    digest = hashlib.sha1(etree.tostring(body)).hexdigest()
    message_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{action}|{relates_to}|{digest}")
    etree.SubElement(head, q("wsa", "MessageID")).text = f"urn:uuid:{message_id}"
    if relates_to:
        etree.SubElement(head, q("wsa", "RelatesTo")).text = relates_to
    etree.SubElement(root, q("soap", "Body")).append(body)
    return root


def serialize(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def mtom(root: etree._Element, attachments: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """An MTOM multipart/related message: the envelope then each (Content-ID, media type, bytes); and its
    Content-Type. The boundary is derived from the content and never occurs in it."""
    xml = serialize(root)
    seed = hashlib.sha1(xml + b"".join(data for _, _, data in attachments)).hexdigest()
    boundary = f"MIMEBoundary_{seed}"
    while any(boundary.encode() in data for data in [xml, *(data for _, _, data in attachments)]):
        boundary = f"MIMEBoundary_{hashlib.sha1(boundary.encode()).hexdigest()}"
    start = f"root.{seed}@xds"
    chunks = [_part(boundary, start, 'application/xop+xml; charset=UTF-8; type="application/soap+xml"', xml)]
    chunks += [_part(boundary, cid, media, data) for cid, media, data in attachments]
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    content_type = (f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
                    f'start="<{start}>"; start-info="application/soap+xml"')
    return body, content_type


def _part(boundary: str, cid: str, media: str, data: bytes) -> bytes:
    head = (f"--{boundary}\r\nContent-Type: {media}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{cid}>\r\n\r\n")
    return head.encode() + data + b"\r\n"
