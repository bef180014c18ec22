"""The element definitions of R4 as the invariant layer walks them: for a type (``Patient``, ``Period``) or a
backbone path (``Patient.contact``), its child elements by JSON name, each with the invariants that apply
to every repetition of it.

An element's invariants are those of its ElementDefinition (``pat-1`` on ``Patient.contact``, the inherited
``ele-1``, ``ext-1``), those of its type's root element (``per-1`` for a Period), of the core profile its type
names (``sqty-1`` of SimpleQuantity), and for a ``contentReference`` those of the element it reuses
(``que-*`` on nested ``Questionnaire.item.item``). A choice (``value[x]``) gives one child per type
(``valueQuantity``...). Built once from `definitions.structure_definitions()`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .corrections import corrected
from .definitions import datatype_profiles, structure_definitions

FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
INLINE_TYPES = ("BackboneElement", "Element")
PRIMITIVE, COMPLEX, RESOURCE = "primitive", "complex", "resource"
# Types whose values may refer to a contained resource ('#' + its id; xhtml: a narrative's links), for dom-3.
REFERENCE_TYPES = frozenset({"uri", "url", "canonical", "xhtml"})


@dataclass(frozen=True, slots=True)
class Constraint:
    """One invariant of an ElementDefinition."""

    key: str
    severity: str  # "error" or "warning" (best-practice invariants are warnings in R4)
    human: str
    expression: str  # as published, or corrected (corrections.py)
    source: str  # the StructureDefinition that defines it


@dataclass(frozen=True, slots=True)
class Child:
    """A child element as it appears in JSON."""

    name: str  # JSON name: "period", "valueQuantity"
    kind: str  # PRIMITIVE, COMPLEX or RESOURCE
    type_code: str  # "dateTime", "Period", "BackboneElement", "Resource"...
    node_type: str  # its type for FHIRPath: "Period", or the backbone path "Patient.contact"
    constraints: tuple[Constraint, ...]
    holds_reference: bool  # Reference.reference, or a REFERENCE_TYPES value (dom-3, Bundle references)
    defined_as: str = ""  # its name in the definition: "value[x]" for "valueQuantity"
    required_binding: bool = False  # bound to a value set with the strength required


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, dict[str, Child]], dict[str, tuple[Constraint, ...]]]:
    definitions = structure_definitions()
    primitives = frozenset(name for name, sd in definitions.items() if sd.get("kind") == "primitive-type")
    roots = {name: _constraints(sd["snapshot"]["element"][0], sd["url"]) for name, sd in definitions.items()}
    profiles = {url: _constraints(sd["snapshot"]["element"][0], url) for url, sd in datatype_profiles().items()}
    by_path = {}
    for sd in definitions.values():
        for element in sd["snapshot"]["element"]:
            by_path.setdefault(element["path"], (element, sd["url"]))
    children: dict[str, dict[str, Child]] = {}
    for sd in definitions.values():
        for element in sd["snapshot"]["element"][1:]:
            parent, _, name = element["path"].rpartition(".")
            siblings = children.setdefault(parent, {})
            for child in _children(element, name, sd["url"], by_path, roots, profiles, primitives):
                siblings[child.name] = child
    return children, roots


def children(key: str) -> dict[str, Child]:
    """The child elements of a type or backbone path, by JSON name ({} if unknown)."""
    return _index()[0].get(key, {})


def root_constraints(type_name: str) -> tuple[Constraint, ...]:
    """The invariants of a type's root element (a resource's dom-*, bdl-*, obs-6...)."""
    return _index()[1].get(type_name, ())


def all_constraints() -> list[Constraint]:
    """Every invariant of R4, once per key and expression."""
    children_by_key, roots = _index()
    found = [c for constraints in roots.values() for c in constraints]
    found += [c for siblings in children_by_key.values() for child in siblings.values() for c in child.constraints]
    return list({(c.key, c.expression): c for c in found}.values())


def _children(element: dict, name: str, url: str, by_path: dict, roots: dict, profiles: dict,
              primitives: frozenset[str]) -> list[Child]:
    own = _constraints(element, url)
    reference = element.get("contentReference")
    if reference:
        target, target_url = by_path[reference.rpartition("#")[2]]
        constraints = _merge(own, _constraints(target, target_url))
        return [Child(name, COMPLEX, "BackboneElement", target["path"], constraints, False, name)]
    result = []
    required = (element.get("binding") or {}).get("strength") == "required"
    for type_ in element.get("type", ()):
        code = _type_code(type_)
        if code in INLINE_TYPES:
            kind, node_type = COMPLEX, element["path"]
        elif code == "Resource":
            kind, node_type = RESOURCE, code
        else:
            kind, node_type = (PRIMITIVE if code in primitives else COMPLEX), code
        constraints = _merge(own, roots.get(code, ()),
                             *(profiles.get(profile, ()) for profile in type_.get("profile", ())))
        holds_reference = code in REFERENCE_TYPES or element["path"] == "Reference.reference"
        wire_name = name[:-3] + code[0].upper() + code[1:] if name.endswith("[x]") else name
        result.append(Child(wire_name, kind, code, node_type, constraints, holds_reference, name, required))
    return result


def _type_code(type_: dict) -> str:
    """An ElementDefinition.type's code, the FHIRPath system types of R4 (Element.id...) as FHIR primitives."""
    code = type_.get("code", "")
    if not code.startswith("http://hl7.org/fhirpath/"):
        return code
    return next((e.get("valueUrl") or e.get("valueUri") for e in type_.get("extension", ())
                 if e.get("url") == FHIR_TYPE_EXTENSION), "string")


def _constraints(element: dict, url: str) -> tuple[Constraint, ...]:
    return tuple(Constraint(c["key"], "error" if c.get("severity") == "error" else "warning", c.get("human", ""),
                            corrected(c.get("expression", "")), c.get("source") or url)
                 for c in element.get("constraint", ()))


def _merge(*groups: tuple[Constraint, ...]) -> tuple[Constraint, ...]:
    """The constraints of several groups, each key once (the first one)."""
    merged: dict[str, Constraint] = {}
    for group in groups:
        for constraint in group:
            merged.setdefault(constraint.key, constraint)
    return tuple(merged.values())
