"""An index of the FHIR R4 element definitions, for the wire formats.

For a type (``Patient``, ``HumanName``) or an inline backbone path (``Patient.contact``,
``Questionnaire.item``), `element_index().children(key)` gives its child elements in definition order, by
JSON/XML name: choice elements (``value[x]``) appear once per allowed type (``valueString``,
``valueQuantity``...), and `contentReference` elements point at the backbone they reuse. Built once from
the snapshots of `validation.definitions.structure_definitions()`; every lookup is a dict access.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

from validation.definitions import structure_definitions

FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
INLINE_TYPES = ("BackboneElement", "Element")

# What an element holds, which decides how it is written in each format.
PRIMITIVE = "primitive"  # a JSON string/number/boolean, an XML value attribute
XHTML = "xhtml"  # Narrative.div: a JSON string, an XHTML element in XML
RESOURCE = "resource"  # a resource container (contained, Bundle.entry.resource, ...)
COMPLEX = "complex"  # a datatype or backbone element with children of its own


@dataclass(frozen=True, slots=True)
class ChildElement:
    """One child element as it appears on the wire."""

    name: str  # JSON property and XML element name, e.g. "valueQuantity"
    path: str  # definition path, e.g. "Observation.value[x]"
    type_code: str  # "string", "decimal", "HumanName", "BackboneElement", "Resource", ...
    kind: str  # PRIMITIVE, XHTML, RESOURCE or COMPLEX
    is_array: bool  # max cardinality above 1: always a JSON array
    order: int  # position among its siblings (the choices of one element share it)
    children_key: str | None  # index key of its own children (COMPLEX only)
    xml_attr: bool  # written as an XML attribute (Element.id, Extension.url)


class ElementIndex:
    """Child elements by index key (type name or backbone path), and the kinds of types."""

    def __init__(self, children: dict[str, dict[str, ChildElement]], resource_types: frozenset[str],
                 primitive_types: frozenset[str]) -> None:
        self._children = {key: MappingProxyType(value) for key, value in children.items()}
        self.resource_types = resource_types
        self.primitive_types = primitive_types

    def children(self, key: str) -> Mapping[str, ChildElement]:
        """The children of a type or backbone path, by name, in definition order (empty if unknown)."""
        return self._children.get(key, _EMPTY)

    def child(self, key: str, name: str) -> ChildElement | None:
        return self._children.get(key, _EMPTY).get(name)

    def is_resource_type(self, name: str) -> bool:
        """True for a concrete resource type (not Resource or DomainResource)."""
        return name in self.resource_types


_EMPTY: Mapping[str, ChildElement] = MappingProxyType({})


def type_code(type_: dict) -> str:
    """The FHIR type of an ElementDefinition.type, resolving the FHIRPath system types of R4."""
    code = type_.get("code") or ""
    if code and not code.startswith("http://hl7.org/fhirpath/"):
        return code
    for extension in type_.get("extension", ()):
        if extension.get("url") == FHIR_TYPE_EXTENSION:
            return extension.get("valueUrl") or extension.get("valueUri") or "string"
    return "string"


def _kind(code: str, primitive_types: frozenset[str]) -> str:
    if code == "xhtml":
        return XHTML
    if code in primitive_types:
        return PRIMITIVE
    if code == "Resource":
        return RESOURCE
    return COMPLEX


def _choice_name(name: str, code: str) -> str:
    return name[:-3] + code[0].upper() + code[1:]


@lru_cache(maxsize=1)
def element_index() -> ElementIndex:
    """The index of every R4 resource and datatype (built once)."""
    definitions = structure_definitions()
    primitive_types = frozenset(n for n, sd in definitions.items() if sd.get("kind") == "primitive-type")
    resource_types = frozenset(n for n, sd in definitions.items()
                               if sd.get("kind") == "resource" and not sd.get("abstract"))
    elements_by_path: dict[str, dict] = {}
    for sd in definitions.values():
        for element in sd["snapshot"]["element"]:
            elements_by_path.setdefault(element["path"], element)
    children: dict[str, dict[str, ChildElement]] = {}
    for sd in definitions.values():
        for order, element in enumerate(sd["snapshot"]["element"][1:]):
            parent, _, name = element["path"].rpartition(".")
            siblings = children.setdefault(parent, {})
            for child in _expand(element, name, order, elements_by_path, primitive_types):
                siblings[child.name] = child
    for siblings in children.values():
        for name, child in siblings.items():
            if child.kind == COMPLEX and child.children_key not in children:
                # a type without own children in the index (none in R4): fall back to Element's
                fallback = child.type_code if child.type_code in children else "Element"
                siblings[name] = _replace_key(child, fallback)
    return ElementIndex(children, resource_types, primitive_types)


def _replace_key(child: ChildElement, key: str) -> ChildElement:
    return ChildElement(child.name, child.path, child.type_code, child.kind, child.is_array, child.order,
                        key, child.xml_attr)


def _expand(element: dict, name: str, order: int, elements_by_path: dict[str, dict],
            primitive_types: frozenset[str]) -> list[ChildElement]:
    """The wire names of one element definition: one, or one per type of a choice."""
    path = element["path"]
    is_array = element.get("max", "1") not in ("0", "1")
    xml_attr = "xmlAttr" in element.get("representation", ())
    reference = element.get("contentReference")
    if reference:
        target_path = reference.rpartition("#")[2]
        target = elements_by_path.get(target_path, {})
        codes = [type_code(t) for t in target.get("type", ())] or ["BackboneElement"]
        return [ChildElement(name, path, codes[0], COMPLEX, is_array, order, target_path, xml_attr)]
    codes = [type_code(t) for t in element.get("type", ())] or ["string"]
    if path.endswith(".id") and element.get("base", {}).get("path") == "Resource.id":
        codes = ["id"]
    result = []
    for code in dict.fromkeys(codes):
        kind = _kind(code, primitive_types)
        key = None
        if kind == COMPLEX:
            key = path if code in INLINE_TYPES else code
        wire_name = _choice_name(name, code) if name.endswith("[x]") else name
        result.append(ChildElement(wire_name, path, code, kind, is_array, order, key, xml_attr))
    return result
