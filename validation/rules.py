"""Layer 3: what the R4 spec requires of every resource but neither the schema nor the models check.

- ``null`` only inside a primitive array, standing for an entry whose value is given by the matching
  ``_x`` entry (``"given": [null, "B"], "_given": [{"extension": [...]}, null]``), and the two arrays of
  the same length (the corrected schema lets null entries through for this; the official one refused
  them all, valid or not, and neither it nor the models check the pairing);
- ``Extension.url`` is present (min 1; the fhir.resources Extension model does not enforce it and the
  schema leaves required primitives to the models);
- ``Narrative.div`` is well-formed XML without a DOCTYPE, whose root is an XHTML ``div`` (the schema
  only says it is a string), holding only basic HTML formatting (txt-1) and some content (txt-2), no block
  element in a paragraph, valid URIs in its links, and internal links that resolve (narrative.py; a
  warning);
- no string holds a control character (below U+0020) other than tab, carriage return and line feed
  (datatypes.html#string): the schema's ``[ \\r\\n\\t\\S]+`` lets them through, since XML Schema's ``\\S`` is
  any character but those four whitespaces, and FHIR XML could not carry such a value.
- the rules the definitions state in prose between values (consistency.py): an Attachment's size and hash
  against its data, an Identifier of system urn:ietf:rfc:3986 holding a URI, a Questionnaire's enableWhen
  naming an item, a CodeSystem's content agreeing with supplements and concept and its FHIR defined
  properties with their types, a SearchParameter with the core one it derives from and a composite one
  with its components, a CapabilityStatement's search parameter types with their definitions, a ValueSet's
  filters on boolean properties, a profile's element paths with its type.
Resource ids and empty values are checked by the corrected schema (see corrected_schema.py).
"""
from __future__ import annotations

import re

from lxml import etree

from . import consistency, narrative
from .issues import Issue
from .paths import element_path

XHTML_NS = "http://www.w3.org/1999/xhtml"
XHTML_DIV = f"{{{XHTML_NS}}}div"
# The HTML 4.0 formatting elements R4 allows in a narrative (txt-1).
NARRATIVE_ELEMENTS = frozenset(
    "a abbr acronym address b bdo big blockquote br caption cite code col colgroup dd dfn div dl dt em "
    "h1 h2 h3 h4 h5 h6 hr i img kbd li ol p pre q samp small span strong sub sup table tbody td tfoot th "
    "thead tr tt ul var".split())
_SCRIPT_URL = re.compile(r"\s*(javascript|vbscript|data\s*:\s*text/html)", re.IGNORECASE)
_DOCTYPE = re.compile(r"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
_EXTENSIONS = ("extension", "modifierExtension")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def rule_issues(resource: dict) -> list[Issue]:
    """The problems these rules find in a resource (a JSON object)."""
    issues: list[Issue] = []
    narratives: list[tuple[etree._Element, str]] = []  # each well-formed div, for the rules that need them all
    _check(resource, [], resource["resourceType"], issues, narratives)
    issues.extend(narrative.internal_link_issues(resource, narratives))
    return issues


def _check(node: object, location: list, root: str, issues: list[Issue],
           narratives: list[tuple[etree._Element, str]]) -> None:
    if isinstance(node, dict):
        if "data" in node or node.get("system") == consistency.RFC_3986 or \
                node.get("resourceType") in consistency.RESOURCE_TYPES:  # the only objects consistency.py checks
            issues.extend(consistency.element_issues(node, location, root))
        for name, value in node.items():
            here = location + [name]
            if isinstance(value, list):
                _check_pairing(node, name, here, root, issues)
            if name == "div" and isinstance(value, str) and value:
                path = element_path(root, here)
                div = _check_div(value, path, issues)
                if div is not None:
                    narratives.append((div, path))
            if name in _EXTENSIONS and isinstance(value, list):
                for index, extension in enumerate(value):
                    if isinstance(extension, dict) and extension and "url" not in extension:
                        issues.append(Issue("error", "required", element_path(root, here + [index, "url"]),
                                            "Missing required element 'url'"))
            _check(value, here, root, issues, narratives)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _check(value, location + [index], root, issues, narratives)
    elif isinstance(node, str) and (control := _CONTROL.search(node)):
        issues.append(Issue("error", "value", element_path(root, location),
                            f"A FHIR string cannot hold the control character U+{ord(control.group()):04X} (of "
                            "the characters below U+0020, only tab, carriage return and line feed are allowed)"))


def _check_pairing(parent: dict, name: str, location: list, root: str, issues: list[Issue]) -> None:
    """A primitive array and its `_x` companion: nulls only where the other side has an entry."""
    values = parent[name]
    other_name = name[1:] if name.startswith("_") else f"_{name}"
    other = parent.get(other_name)
    other = other if isinstance(other, list) else []
    for index, value in enumerate(values):
        if value is None and (index >= len(other) or other[index] is None):
            issues.append(Issue("error", "structure", element_path(root, location + [index]),
                                f"null in '{name}' needs a matching entry in '{other_name}'"))
    if not name.startswith("_") and other_name in parent and other and len(other) != len(values):
        issues.append(Issue("error", "structure", element_path(root, location),
                            f"'{name}' and '{other_name}' must have the same number of entries "
                            f"({len(values)} and {len(other)})"))


def _check_div(text: str, path: str, issues: list[Issue]) -> etree._Element | None:
    """The parsed narrative, or None when it is not a well-formed XHTML div (reported)."""
    if _DOCTYPE.search(text):
        issues.append(Issue("error", "value", path, "The narrative must not have a DOCTYPE or entity declaration"))
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)  # one per call: not thread-safe
    try:
        element = etree.fromstring(text, parser)
    except (etree.XMLSyntaxError, ValueError) as e:
        issues.append(Issue("error", "value", path, f"The narrative is not well-formed XHTML: {e}"))
        return None
    if element.tag != XHTML_DIV:
        issues.append(Issue("error", "value", path,
                            "The narrative must be a <div> in the XHTML namespace (http://www.w3.org/1999/xhtml)"))
        return None
    _check_narrative_content(element, path, issues)
    issues.extend(narrative.content_issues(element, path))
    return element


def _check_narrative_content(div: etree._Element, path: str, issues: list[Issue]) -> None:
    """txt-1: only basic HTML formatting (no script, forms, frames, event handlers or script URLs), as one
    issue listing every offence; txt-2: some content (an error a write tolerates: official examples have empty narratives).
    Clients render narratives, so txt-1 also keeps stored script out of them."""
    offences: list[str] = []
    for node in div.iter():
        if not isinstance(node.tag, str):
            continue  # comments and processing instructions carry no markup
        name = etree.QName(node).localname
        if etree.QName(node).namespace != XHTML_NS or name not in NARRATIVE_ELEMENTS:
            offences.append(f"element <{name}>")
            continue
        for attribute, value in node.attrib.items():
            local = etree.QName(attribute).localname.lower()
            if local.startswith("on") or (local in ("href", "src") and _SCRIPT_URL.match(value)):
                offences.append(f"attribute '{local}' of <{name}>")
    if offences:
        issues.append(Issue("error", "invariant", path, "txt-1: a narrative holds basic HTML formatting only; "
                            f"not allowed: {', '.join(offences)}"))
    if not "".join(div.itertext()).strip() and div.find(f".//{{{XHTML_NS}}}img") is None:
        issues.append(Issue("error", "invariant", path, "The narrative SHALL have some non-whitespace content",
                            key="txt-2", tolerated=True))
