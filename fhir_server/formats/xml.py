"""FHIR R4 XML <-> JSON (https://hl7.org/fhir/R4/xml.html and json.html).

The StructureDefinitions decide the element order, which elements repeat (JSON arrays), which primitives
are JSON booleans or numbers, and which elements are XML attributes (Element.id, Extension.url).
Both directions raise only `FhirFormatError`, whose `path` names the offending element.
"""
from __future__ import annotations

from typing import Any, Mapping

from lxml import etree

from . import FhirFormatError
from .primitives import from_text, to_text
from .structure import PRIMITIVE, RESOURCE, XHTML, ChildElement, ElementIndex, element_index
from .xhtml import FHIR_NS, XHTML_NS, div_from_json, div_to_json, parse_xml, split_tag

__all__ = ["FHIR_NS", "XHTML_NS", "FhirFormatError", "json_to_xml", "xml_to_json"]

_F = f"{{{FHIR_NS}}}"
_XML_WHITESPACE = " \t\r\n"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def json_to_xml(resource: dict, pretty: bool = False) -> bytes:
    """FHIR XML (UTF-8, with an XML declaration) of a resource in FHIR JSON."""
    if not isinstance(resource, dict):
        raise FhirFormatError("A FHIR resource must be a JSON object")
    try:
        root = _Writer(element_index()).resource(None, resource, "")
    except RecursionError as e:
        raise FhirFormatError("The resource is nested too deeply") from e
    if pretty:
        _indent(root, 0)
    return _DECLARATION + etree.tostring(root, encoding="UTF-8")


def xml_to_json(data: bytes) -> dict:
    """FHIR JSON of a resource in FHIR XML. Refuses DTDs, foreign namespaces, unknown elements and elements out
    of the order of the definitions (xml.html: "Elements must always appear in the order documented")."""
    root = parse_xml(data)
    try:
        return _Reader(element_index()).resource(root, "")
    except RecursionError as e:
        raise FhirFormatError("The document is nested too deeply") from e


class _Writer:
    """JSON -> XML, one element at a time, children in the order of the definitions."""

    def __init__(self, index: ElementIndex) -> None:
        self.index = index

    def resource(self, parent: etree._Element | None, resource: object, path: str) -> etree._Element:
        if not isinstance(resource, dict):
            raise FhirFormatError("A resource must be a JSON object", path)
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str) or not self.index.is_resource_type(resource_type):
            what = f"Unknown resource type '{resource_type}'" if resource_type else "Missing resourceType"
            raise FhirFormatError(what, path)
        tag = _F + resource_type
        element = etree.Element(tag, nsmap={None: FHIR_NS}) if parent is None else etree.SubElement(parent, tag)
        self.children(element, resource, resource_type, path or resource_type, is_resource=True)
        return element

    def children(self, element: etree._Element, obj: Mapping[str, Any], key: str, path: str,
                 is_resource: bool = False) -> None:
        definitions = self.index.children(key)
        present: dict[str, ChildElement] = {}
        for name in obj:
            if is_resource and name == "resourceType":
                continue
            if not isinstance(name, str):
                raise FhirFormatError(f"Property names must be strings, found {name!r}", path)
            base = name[1:] if name[:1] == "_" else name
            child = definitions.get(base)
            if child is None or (base != name and (child.kind != PRIMITIVE or child.xml_attr)):
                raise FhirFormatError(f"Unknown property '{name}'", f"{path}.{name}")
            present[base] = child
        _check_single_choice(present.values(), path)
        for child in sorted(present.values(), key=lambda c: c.order):
            self.child(element, obj, child, path)

    def child(self, element: etree._Element, obj: Mapping[str, Any], child: ChildElement, path: str) -> None:
        name, here = child.name, f"{path}.{child.name}"
        if child.kind == PRIMITIVE:
            if child.xml_attr:
                _set(element, name, to_text(obj[name], child.type_code, here), here)
            elif child.is_array:
                self.primitive_array(element, obj.get(name), obj.get("_" + name), child, here)
            else:
                value, extra = obj.get(name), obj.get("_" + name)
                if isinstance(value, list) or isinstance(extra, list):
                    raise FhirFormatError(f"'{name}' does not repeat: it must not be a JSON array", here)
                self.primitive(element, value, extra, child, here)
            return
        value = obj[name]
        if child.kind == XHTML:
            element.append(div_from_json(value, here))
            return
        items = _as_list(value, child, here)
        for i, item in enumerate(items):
            item_path = f"{here}[{i}]" if child.is_array else here
            sub = etree.SubElement(element, _F + name)
            if child.kind == RESOURCE:
                self.resource(sub, item, item_path)
            elif isinstance(item, dict):
                self.children(sub, item, child.children_key or "Element", item_path)
            else:
                raise FhirFormatError(f"Expected a JSON object for {child.type_code}", item_path)

    def primitive_array(self, element: etree._Element, values: object, extras: object, child: ChildElement,
                        path: str) -> None:
        values = [] if values is None else _as_list(values, child, path)
        extras = [] if extras is None else _as_list(extras, child, path)
        if values and extras and len(values) != len(extras):
            raise FhirFormatError(f"'{child.name}' and '_{child.name}' have different lengths", path)
        for i in range(max(len(values), len(extras))):
            self.primitive(element, values[i] if values else None, extras[i] if extras else None, child,
                           f"{path}[{i}]")

    def primitive(self, element: etree._Element, value: object, extra: object, child: ChildElement,
                  path: str) -> None:
        if value is None and extra is None:
            raise FhirFormatError("A primitive needs a value, an id or extensions (found null)", path)
        sub = etree.SubElement(element, _F + child.name)
        if extra is not None:
            if not isinstance(extra, dict):
                raise FhirFormatError(f"'_{child.name}' must be a JSON object", path)
            self.children(sub, extra, "Element", path)
        if value is not None:
            _set(sub, "value", to_text(value, child.type_code, path), path)


class _Reader:
    """XML -> JSON: each element is looked up in the definitions of its parent."""

    def __init__(self, index: ElementIndex) -> None:
        self.index = index

    def resource(self, element: etree._Element, path: str) -> dict:
        namespace, local = split_tag(element.tag)
        if namespace != FHIR_NS:
            raise FhirFormatError(f"The resource element '{local}' is not in the FHIR namespace "
                                  f"'{FHIR_NS}' (found '{namespace or ''}')", path)
        if not self.index.is_resource_type(local):
            raise FhirFormatError(f"Unknown resource type '{local}'", path)
        result: dict = {"resourceType": local}
        result.update(self.complex(element, local, path or local))
        return result

    def complex(self, element: etree._Element, key: str, path: str, primitive: bool = False) -> dict:
        """The JSON object of an element; for a primitive (`primitive`), only its id and extensions."""
        definitions = self.index.children(key)
        result: dict = {}
        for attribute, value in element.attrib.items():
            if attribute[:1] == "{" or (primitive and attribute == "value"):
                continue  # xml:lang, xsi:schemaLocation...
            child = definitions.get(attribute)
            if child is None or not child.xml_attr:
                if attribute == "value":
                    raise FhirFormatError("A 'value' attribute is not allowed on an element that is not "
                                          "a primitive", path)
                raise FhirFormatError(f"Unknown attribute '{attribute}'", path)
            result[attribute] = value
        _check_text(element.text, path)
        found: dict[str, list] = {}
        previous: ChildElement | None = None
        for node in element:
            if not isinstance(node.tag, str):
                continue
            _check_text(node.tail, path)
            namespace, local = split_tag(node.tag)
            child = definitions.get(local)
            if namespace != FHIR_NS and (child is None or child.kind != XHTML):  # the div checks its own
                raise FhirFormatError(f"The element '{local}' is not in the FHIR namespace '{FHIR_NS}' "
                                      f"(found '{namespace or ''}')", f"{path}.{local}")
            if child is None or child.xml_attr:
                raise FhirFormatError(f"Unknown element '{local}'", f"{path}.{local}")
            items = found.setdefault(local, [])
            if items and not child.is_array:
                raise FhirFormatError(f"The element '{local}' repeats but may occur only once", f"{path}.{local}")
            if previous is not None and child.order < previous.order:  # repetitions are together: same order
                raise FhirFormatError(f"The element '{local}' is out of order (found after '{previous.name}'): "
                                      "FHIR XML elements appear in the order of the definitions", f"{path}.{local}")
            previous = child
            here = f"{path}.{local}[{len(items)}]" if child.is_array else f"{path}.{local}"
            items.append(self.child(node, child, here))
        _check_single_choice((definitions[name] for name in found), path)
        for name, items in found.items():
            _put(result, definitions[name], items)
        return result

    def child(self, node: etree._Element, child: ChildElement, path: str) -> object:
        if child.kind == PRIMITIVE:
            extra = self.complex(node, "Element", path, primitive=True)
            text = node.get("value")
            if text is None and not extra:
                raise FhirFormatError("The element has no value, id or extensions", path)
            return (None if text is None else from_text(text, child.type_code, path)), (extra or None)
        if child.kind == XHTML:
            return div_to_json(node, path)
        if child.kind == RESOURCE:
            return self.container(node, path)
        return self.complex(node, child.children_key or "Element", path)

    def container(self, node: etree._Element, path: str) -> dict:
        if any(a[:1] != "{" for a in node.attrib):
            raise FhirFormatError("A resource container takes no attributes", path)
        _check_text(node.text, path)
        resources = [n for n in node if isinstance(n.tag, str)]
        for n in resources:
            _check_text(n.tail, path)
        if len(resources) != 1:
            raise FhirFormatError(f"A resource container must hold exactly one resource (found {len(resources)})",
                                  path)
        return self.resource(resources[0], path)


def _put(result: dict, child: ChildElement, items: list) -> None:
    """Store the values read for one child; primitives split into `name` and `_name` (aligned arrays)."""
    name = child.name
    if child.kind != PRIMITIVE:
        result[name] = items if child.is_array else items[0]
        return
    values = [value for value, _ in items]
    extras = [extra for _, extra in items]
    if child.is_array:
        if any(v is not None for v in values):
            result[name] = values
        if any(e is not None for e in extras):
            result["_" + name] = extras
    else:
        if values[0] is not None:
            result[name] = values[0]
        if extras[0] is not None:
            result["_" + name] = extras[0]


def _check_single_choice(children: Any, path: str) -> None:
    seen: dict[int, str] = {}
    for child in children:
        if child.path.endswith("[x]"):
            other = seen.setdefault(child.order, child.name)
            if other != child.name:
                raise FhirFormatError(f"Only one type of a choice element is allowed (found '{other}' and "
                                      f"'{child.name}')", path)


def _as_list(value: object, child: ChildElement, path: str) -> list:
    if child.is_array:
        if not isinstance(value, list):
            raise FhirFormatError(f"'{child.name}' repeats: it must be a JSON array", path)
        return value
    if isinstance(value, list):
        raise FhirFormatError(f"'{child.name}' does not repeat: it must not be a JSON array", path)
    return [value]


def _set(element: etree._Element, name: str, value: str, path: str) -> None:
    try:
        element.set(name, value)
    except ValueError as e:  # control characters and the like, which XML cannot carry
        raise FhirFormatError(f"The value cannot be written in XML: {e}", path) from e


def _check_text(text: str | None, path: str) -> None:
    if text and text.strip(_XML_WHITESPACE):
        raise FhirFormatError(f"Text is not allowed here (found '{text.strip()[:40]}')", path)


def _indent(element: etree._Element, level: int) -> None:
    """Pretty-print FHIR elements in place, leaving the XHTML of narratives untouched."""
    if not len(element) or split_tag(element.tag)[0] == XHTML_NS:
        return
    padding = "\n" + "  " * (level + 1)
    element.text = padding
    for child in element:
        child.tail = padding
        _indent(child, level + 1)
    element[-1].tail = "\n" + "  " * level
