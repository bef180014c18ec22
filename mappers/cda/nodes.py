"""Reading CDA elements: steps in the urn:hl7-org:v3 namespace, text content, required elements."""
from __future__ import annotations

from functools import lru_cache

from lxml import etree

from ..errors import MappingError

HL7 = "urn:hl7-org:v3"
Element = etree._Element


@lru_cache(maxsize=None)
def _qualified(path: str) -> str:
    return "/".join(f"{{{HL7}}}{step}" for step in path.split("/"))


def first(element: Element, path: str) -> Element | None:
    """The first element at `path` (steps separated by /, in the HL7 namespace) below `element`."""
    return element.find(_qualified(path))


def every(element: Element, path: str) -> list[Element]:
    return element.findall(_qualified(path))


def text(element: Element | None) -> str | None:
    """The element's text content with its whitespace collapsed; None when empty."""
    if element is None:
        return None
    return " ".join("".join(element.itertext()).split()) or None


def required(element: Element, path: str, where: str, what: str) -> Element:
    """The element at `path`, or a MappingError naming its location and what it holds."""
    found = first(element, path)
    if found is None:
        raise MappingError(f"{where}/{path} is missing: a CDA header needs {what}", "required", f"{where}/{path}")
    return found


def attribute(element: Element, name: str, where: str, what: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise MappingError(f"{where}/@{name} is missing: a CDA header needs {what}", "required", f"{where}/@{name}")
    return value


def local_name(element: Element) -> str | None:
    """The local name of an element in the HL7 namespace; None for any other node."""
    tag = element.tag
    return tag[len(HL7) + 2:] if isinstance(tag, str) and tag.startswith(f"{{{HL7}}}") else None
