"""Safe XML parsing, and the XHTML of Narrative.div between its JSON string and its XML element."""
from __future__ import annotations

import re
from html.entities import name2codepoint

from lxml import etree

from . import FhirFormatError

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_XHTML_PREFIX = f"{{{XHTML_NS}}}"
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_NAMED_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    # One parser per call: lxml parsers are not thread-safe. huge_tree lifts libxml2's 10 MB cap on one text
    # or attribute value, which a Binary's base64 `data` passes long before FHIR_MAX_BODY_BYTES: the input is
    # bounded by that limit, and DTDs (hence entity expansion) are refused before parsing.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                           remove_comments=True, remove_pis=True, dtd_validation=False)


def parse_xml(data: bytes | str, what: str = "document", path: str = "") -> etree._Element:
    """The root element of well-formed XML without any DTD (refused: no XXE, no entity expansion bombs)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray)):
        raise FhirFormatError(f"The XML {what} must be bytes or text", path)
    if _DOCTYPE.search(data):
        raise FhirFormatError(f"The XML {what} has a DOCTYPE or entity declaration, which is not allowed", path)
    try:
        root = etree.fromstring(bytes(data), _parser())
    except (etree.XMLSyntaxError, ValueError) as e:
        raise FhirFormatError(f"The XML {what} is not well-formed: {e}", path) from e
    if root is None:
        raise FhirFormatError(f"The XML {what} is empty", path)
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise FhirFormatError(f"The XML {what} has a DOCTYPE, which is not allowed", path)
    return root


def split_tag(tag: str) -> tuple[str | None, str]:
    """(namespace, local name) of a Clark-notation tag."""
    if tag[:1] == "{":
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def div_from_json(text: object, path: str) -> etree._Element:
    """The XHTML element of a JSON Narrative.div string (HTML named entities such as &nbsp; accepted)."""
    if not isinstance(text, str):
        raise FhirFormatError("The narrative div must be a string of XHTML", path)
    text = _NAMED_ENTITY.sub(_numeric_entity, text)
    div = parse_xml(text, "narrative", path)
    namespace, local = split_tag(div.tag)
    if local != "div" or namespace not in (None, XHTML_NS):
        raise FhirFormatError(f"The narrative must be an XHTML div, not '{local}'", path)
    return _checked(div if _is_plain(div) else normalized_div(div), path)


def div_to_json(div: etree._Element, path: str) -> str:
    """The JSON string of an XHTML div element found in FHIR XML."""
    namespace, local = split_tag(div.tag)
    if namespace != XHTML_NS:
        raise FhirFormatError(f"Wrong namespace on the XHTML ('{namespace or ''}', should be '{XHTML_NS}')", path)
    if local != "div":
        raise FhirFormatError(f"The narrative must be an XHTML div, not '{local}'", path)
    div = _checked(div if _is_plain(div) else normalized_div(div), path)
    return etree.tostring(div, encoding="unicode", with_tail=False)


def _checked(div: etree._Element, path: str) -> etree._Element:
    """The div, once every element inside it is known to be XHTML."""
    for element in div.iter():
        if isinstance(element.tag, str) and not element.tag.startswith(_XHTML_PREFIX):
            namespace, local = split_tag(element.tag)
            raise FhirFormatError(f"Wrong namespace on the XHTML element '{local}' ('{namespace or ''}', "
                                  f"should be '{XHTML_NS}')", path)
    return div


def _is_plain(div: etree._Element) -> bool:
    """True when the div declares XHTML as its default namespace and nothing else is in scope."""
    return div.prefix is None and div.nsmap == {None: XHTML_NS}


def normalized_div(source: etree._Element) -> etree._Element:
    """A copy of a div in its own tree, the XHTML namespace as default (un-namespaced elements moved into it)."""
    root = _copy(source, None)
    root.tail = None
    return root


def _copy(source: etree._Element, parent: etree._Element | None) -> etree._Element:
    namespace, local = split_tag(source.tag)
    tag = f"{{{XHTML_NS}}}{local}" if namespace in (None, XHTML_NS) else source.tag
    attributes = dict(source.attrib)
    if parent is None:
        element = etree.Element(tag, attributes, nsmap={None: XHTML_NS})
    else:
        element = etree.SubElement(parent, tag, attributes)
    element.text, element.tail = source.text, source.tail
    for child in source:
        if isinstance(child.tag, str):
            _copy(child, element)
        elif child.tail:  # a comment or processing instruction: keep the text after it
            _append_text(element, child.tail)
    return element


def _append_text(element: etree._Element, text: str) -> None:
    if len(element):
        element[-1].tail = (element[-1].tail or "") + text
    else:
        element.text = (element.text or "") + text


def _numeric_entity(match: re.Match) -> str:
    name = match.group(1)
    if name in _XML_ENTITIES or name not in name2codepoint:
        return match.group(0)
    return f"&#{name2codepoint[name]};"
