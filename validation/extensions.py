"""Layer 4: extensions against the core extension definitions of R4, driven by their StructureDefinitions.

Every ``extension`` and ``modifierExtension``, at any depth (in ``_x`` companions, extension values,
contained resources and Bundle entries), whose url is a core extension (``http://hl7.org/fhir/
StructureDefinition/patient-birthPlace``: one of the 391 extension StructureDefinitions of the R4 package):
- its **context**: one of the definition's ``context`` entries allows the element it extends. As the
  official validator does, an element is known by every path that leads to it, re-rooted at each datatype
  on the way (``Patient.name.family``, ``HumanName.family``, ``string``), and by the ancestors of each root
  (``markdown`` is a ``string``, ``Patient`` a ``DomainResource``); ``Element`` allows every element,
  ``Resource`` every resource. Inside ``ElementDefinition.example``, ``fixed[x]``, ``pattern[x]`` and
  ``defaultValue[x]`` (values of other elements) any context goes;
- **modifier or not**: an ``isModifier`` extension only in ``modifierExtension``, any other only in ``extension``;
- **its value**: a simple extension has a value of one of the types of ``Extension.value[x]`` and no
  sub-extension; a complex one (``Extension.value[x]`` max 0) no value but sub-extensions: each one whose url
  is relative must be one of its slices (``Extension.extension:species``, url fixed to ``species``), checked
  the same way (value type, nested slices), and each slice's cardinality holds.
A url under ``http://hl7.org/fhir/StructureDefinition/`` that is not a core extension is an error (a
misspelled core extension, or one the R4 package does not have), and so is a versioned url (``...|4.0.0``)
and a relative url outside a complex extension. Any other url is an extension whose definition we do not
have: the official validator refuses it ("could not be found so is not allowed here") unless its url is of an
example domain, a cross-version extension, or of the IGs the server is built for (``KNOWN_DOMAINS``: FR
Core, ANS, IHE, ours), whose definitions a French integration tester loads into it; HAPI accepts it by default, and so do writes here
(``Issue.tolerated``: a warning with ``validate_resource(..., lenient=True)``).
Definitions are read once per url, on first use (``definitions.package_structure_definition``), and compiled.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

from .definitions import package_structure_definition, structure_definitions
from .issues import Issue
from .paths import element_path

CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
# The severity of an extension under CORE_PREFIX that the R4 package does not define: a warning, since the
# HL7 extensions pack (hl7.fhir.uv.extensions) defines newer ones under the same prefix (instance-name...),
# valid in R4 resources, which the official validator knows and we do not.
UNKNOWN_CORE_SEVERITY = "warning"
# Extensions accepted without their definition. As the official validator (InstanceValidator
# .allowUnknownExtension): urls holding an example domain, and the HL7 tools IG. Then the IGs this server is
# built for, as a French integration tester validates with them loaded: FR Core, the ANS (CI-SIS) and
# Interop'Santé IGs, IHE (MHD), and this server's own definitions.
_EXAMPLE_DOMAINS = ("example.org", "acme.com", "nema.org")
KNOWN_DOMAINS = ("http://hl7.org/fhir/tools/StructureDefinition/", "https://hl7.fr/ig/fhir/", "http://hl7.fr/ig/fhir/",
                 "https://interop.esante.gouv.fr/", "http://interopsante.org/fhir/", "https://profiles.ihe.net/",
                 "https://fhir-server.org/", "https://fhir-server.github.io/", "https://github.com/fhir-server/")
# Cross-version extensions (extensions.html#xver, elements of FHIR 1.0, 3.0, 4.3 or 5.0 in R4 data): the
# official validator derives their definitions from those versions' packages, which we do not have.
_CROSS_VERSION = re.compile(r"http://hl7\.org/fhir/\d\.\d/StructureDefinition/extension-")
_EXTENSION_KEYS = ("extension", "modifierExtension")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_ANY_CONTEXT = frozenset({"Element", "Any"})
# Values of other elements, where an extension's context is that other element, not where it is written.
_FREE_CONTEXT = frozenset({"ElementDefinition.example", "ElementDefinition.fixed[x]", "ElementDefinition.pattern[x]",
                           "ElementDefinition.defaultValue[x]"})
_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
# Contexts of R4 definitions that R4 itself contradicts, corrected as the official validator corrects them
# (InstanceValidator.fixContexts): url -> {index of the context: the expression it becomes}. The R4 package
# puts structuredefinition-fhir-type on ElementDefinition.type, not .type.code, and regex there too;
# structuredefinition-normative-version on CodeSystems, ValueSets and ElementDefinitions; and the
# capabilitystatement-expectation and -prohibited extensions on more elements than their contexts list.
_CONTEXT_CORRECTIONS = {
    _FHIR_TYPE: {0: "ElementDefinition.type"},
    CORE_PREFIX + "regex": {1: "ElementDefinition.type"},
    CORE_PREFIX + "structuredefinition-normative-version": {0: "Element"},
    CORE_PREFIX + "capabilitystatement-expectation": {0: "Element"},
    CORE_PREFIX + "capabilitystatement-prohibited": {0: "Element"},
}
_MAX_PATHS = 64  # paths kept for one element (choices double them): enough for any real resource


# -- the definitions, compiled -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Rules:
    """What an extension or sub-extension may hold."""
    value_types: frozenset[str]  # empty for a complex extension: no value
    sub_extensions: bool  # whether it may hold sub-extensions
    slices: Mapping[str, "_Slice"]  # by (relative) url


@dataclass(frozen=True)
class _Slice:
    name: str
    min: int
    max: int | None  # None: *
    rules: _Rules


@dataclass(frozen=True)
class _Definition:
    url: str
    contexts: tuple[tuple[str, str], ...]  # (type, expression): element, extension or fhirpath
    modifier: bool
    rules: _Rules


@lru_cache(maxsize=2048)
def _definition(url: str) -> _Definition | None:
    """The compiled core extension definition of a url, or None when the R4 package has none."""
    sd = package_structure_definition(url)
    if not sd or sd.get("type") != "Extension" or sd.get("derivation") != "constraint" or not sd.get("snapshot"):
        return None
    elements = {element.get("id", element["path"]): element for element in sd["snapshot"]["element"]}
    root = sd["snapshot"]["element"][0]
    corrections = _CONTEXT_CORRECTIONS.get(url, {})
    contexts = tuple((context.get("type", "element"), corrections.get(index, context.get("expression", "")))
                     for index, context in enumerate(sd.get("context", [])))
    return _Definition(url, contexts, bool(root.get("isModifier")), _rules(elements, "Extension"))


def _rules(elements: dict[str, dict], prefix: str) -> _Rules:
    value = elements.get(f"{prefix}.value[x]", {})
    value_types = frozenset() if value.get("max") == "0" else frozenset(
        t["code"] for t in value.get("type", []) if "code" in t)
    slices: dict[str, _Slice] = {}
    start = f"{prefix}.extension:"
    for element_id in elements:
        name = element_id[len(start):] if element_id.startswith(start) else ""
        if name and "." not in name and ":" not in name:
            element = elements[element_id]
            url = elements.get(f"{element_id}.url", {}).get("fixedUri", name)
            maximum = element.get("max", "*")
            slices[url] = _Slice(name, int(element.get("min", 0)), None if maximum == "*" else int(maximum),
                                 _rules(elements, element_id))
    # A slice makes the extension complex even where `extension` says max 0 (codesystem-history's revision).
    allows = elements.get(f"{prefix}.extension", {}).get("max", "*") != "0" or bool(slices)
    return _Rules(value_types, allows, slices)


# -- the elements of R4, for the paths and types of what is extended -----------------------------------------
@dataclass(frozen=True)
class _Child:
    names: tuple[str, ...]  # the element's name in the definitions, and for a choice its JSON name too
    type: str | None  # its type code (BackboneElement for a backbone), None for a contentReference
    definition: str  # where its own children are defined: a type name or a backbone element's path
    reference: str | None = None  # the element a contentReference points to (Questionnaire.item)


@lru_cache(maxsize=None)
def _elements(type_name: str) -> dict[str, dict]:
    sd = structure_definitions().get(type_name)
    return {element["path"]: element for element in sd.get("snapshot", {}).get("element", [])} if sd else {}


@lru_cache(maxsize=4096)
def _children(definition: str) -> dict[str, _Child]:
    """The children of an element by JSON name (``valueQuantity`` for ``value[x]``)."""
    result: dict[str, _Child] = {}
    start = definition + "."
    for path, element in _elements(definition.split(".")[0]).items():
        if not path.startswith(start) or "." in path[len(start):]:
            continue
        name = path[len(start):]
        if element.get("contentReference"):
            target = element["contentReference"].lstrip("#")
            result[name] = _Child((name,), None, target, target)
            continue
        types = [_type_code(t) for t in element.get("type", [])]
        if name.endswith("[x]"):
            for code in types:
                json_name = name[:-3] + code[:1].upper() + code[1:]
                result[json_name] = _Child((name, json_name), code, _definition_of(path, code))
        elif types:
            result[name] = _Child((name,), types[0], _definition_of(path, types[0]))
    return result


def _type_code(type_ref: dict) -> str:
    for extension in type_ref.get("extension", []):
        if extension.get("url") == _FHIR_TYPE and extension.get("valueUrl"):
            return extension["valueUrl"]
    code = type_ref.get("code", "")
    return code.rsplit(".", 1)[-1].lower() if code.startswith("http://hl7.org/fhirpath/") else code


def _definition_of(path: str, code: str) -> str:
    return path if code in ("BackboneElement", "Element") else code


@lru_cache(maxsize=None)
def _ancestors(type_name: str) -> tuple[str, ...]:
    """A type and the types it specializes: ``markdown``, ``string``, ``Element``."""
    chain: list[str] = []
    sd = structure_definitions().get(type_name)
    while sd is not None and sd.get("type") not in chain:
        chain.append(sd["type"])
        sd = structure_definitions().get((sd.get("baseDefinition") or "").rsplit("/", 1)[-1])
    return tuple(chain) or (type_name,)


# A trail is how an element is reached from its resource: one step per element, (names, type, reference).
Trail = tuple[tuple[tuple[str, ...], "str | None", "str | None"], ...]


@lru_cache(maxsize=4096)
def _context_names(resource_type: str, trail: Trail) -> frozenset[str]:
    """Every name a context may give the element at the end of the trail (see the module's docstring)."""
    paths = [resource_type]
    for names, type_code, reference in trail:
        paths = [f"{path}.{name}" for path in paths for name in names][:_MAX_PATHS]
        if reference:
            paths.append(reference)
        if type_code:
            paths.append(type_code)
    result = set(paths)
    for path in paths:
        head, dot, rest = path.partition(".")
        for ancestor in _ancestors(head):
            result.add(ancestor + dot + rest)
    return frozenset(result)


# -- the walk ----------------------------------------------------------------------------------------------
class _Place:
    """An element that holds extensions: where it is and what it is."""
    __slots__ = ("resource_type", "trail", "definition", "free_context", "extension_url")

    def __init__(self, resource_type: str, trail: Trail, definition: str, free_context: bool = False,
                 extension_url: str | None = None):
        self.resource_type = resource_type  # of the nearest resource
        self.trail = trail
        self.definition = definition  # where its children are defined
        self.free_context = free_context  # inside a value of another element (ElementDefinition.example...)
        self.extension_url = extension_url  # when it is an extension: its url

    def child(self, child: _Child) -> "_Place":
        free = self.free_context or f"{self.definition}.{child.names[0]}" in _FREE_CONTEXT
        return _Place(self.resource_type, self.trail + ((child.names, child.type, child.reference),),
                      child.definition, free)


def extension_issues(resource: dict) -> list[Issue]:
    """The problems of the resource's extensions (a JSON object whose resourceType is an R4 type)."""
    walk = _Walk(resource["resourceType"])
    walk.element(resource, _Place(resource["resourceType"], (), resource["resourceType"]), [], None)
    # One issue per path and code (the merge of all layers keeps only the first): messages joined.
    merged: dict[tuple[str, str], Issue] = {}
    for issue in walk.issues:
        key = (issue.path, issue.code)
        first = merged.get(key)
        if first is not None and issue.message not in first.message:
            severity = "error" if "error" in (first.severity, issue.severity) else issue.severity
            issue = Issue(severity, issue.code, issue.path, f"{first.message}; {issue.message}",
                          tolerated=first.tolerated and issue.tolerated)
        merged[key] = issue
    return list(merged.values())


class _Walk:
    def __init__(self, root: str):
        self.root = root
        self.issues: list[Issue] = []

    def error(self, code: str, location: list, message: str, severity: str = "error", tolerated: bool = False) -> None:
        self.issues.append(Issue(severity, code, element_path(self.root, location), message, tolerated=tolerated))

    def element(self, node: dict, place: _Place, location: list, rules: _Rules | None) -> None:
        """An element (or resource) and everything in it; `rules` when it is an extension we know."""
        children = _children(place.definition)
        for key, value in node.items():
            if key in _EXTENSION_KEYS:
                if type(value) is list:
                    self.extensions(value, key, place, location + [key], rules)
                continue
            if type(value) is dict:
                items = ((None, value),)
            elif type(value) is list and any(type(item) is dict for item in value):
                items = enumerate(value)
            else:
                continue  # a primitive value (or null): nothing to extend
            child = children.get(key[1:] if key.startswith("_") else key)
            if child is None:
                continue  # not an R4 element: the schema reports it
            child_place = None
            for index, item in items:
                if type(item) is not dict:
                    continue
                here = location + [key] if index is None else location + [key, index]
                if child.type == "Resource":
                    resource_type = item.get("resourceType")
                    if isinstance(resource_type, str) and _elements(resource_type):
                        self.element(item, _Place(resource_type, (), resource_type), here, None)
                else:
                    child_place = child_place or place.child(child)
                    self.element(item, child_place, here, None)

    def extensions(self, items: list, key: str, container: _Place, location: list, parent: _Rules | None) -> None:
        """The extensions of one element; `parent`: the rules of that element when it is a known extension."""
        counts: dict[str, int] = {}
        for index, extension in enumerate(items):
            if not isinstance(extension, dict):
                continue
            here = location + [index]
            url = extension.get("url")
            rules = None
            if not isinstance(url, str) or not url:
                pass  # a missing url is reported by rules.py
            elif container.extension_url is not None and not _ABSOLUTE.match(url):
                if parent is not None and parent.slices:
                    counts[url] = counts.get(url, 0) + 1
                    found = parent.slices.get(url)
                    if found is None:
                        self.error("structure", here, f"The sub-extension url '{url}' is not defined by the "
                                   f"extension {container.extension_url} (it defines "
                                   f"{', '.join(repr(u) for u in parent.slices)})")
                    else:
                        rules = found.rules
                        self.content(extension, rules, here, f"{container.extension_url}#{found.name}")
            elif not _ABSOLUTE.match(url):
                self.error("structure", here + ["url"], f"The url of an extension must be absolute ('{url}'); "
                           "only a sub-extension of a complex extension may have a relative url")
            else:
                rules = self.absolute(extension, url, key, container, here)
            if isinstance(url, str) and container.extension_url is not None and not _ABSOLUTE.match(url):
                url = f"{container.extension_url}#{url}"  # a sub-extension, named in messages by its parent too
            place = _Place(container.resource_type, container.trail + (((key,), "Extension", None),), "Extension",
                           container.free_context, url if isinstance(url, str) else "")
            self.element(extension, place, here, rules)
        if parent is not None and container.extension_url is not None:
            for url, found in parent.slices.items():
                count = counts.get(url, 0)
                if count < found.min:
                    self.error("required", location[:-1], f"The extension {container.extension_url} needs its "
                               f"sub-extension '{url}' (at least {found.min}, found {count})")
                elif found.max is not None and count > found.max:
                    self.error("structure", location[:-1], f"The extension {container.extension_url} allows at most "
                               f"{found.max} sub-extension '{url}' (found {count})")

    def absolute(self, extension: dict, url: str, key: str, container: _Place, location: list) -> _Rules | None:
        """An extension with an absolute url: checked when it is a core one. Its rules, or None."""
        if not url.startswith(CORE_PREFIX):
            if not (any(domain in url for domain in _EXAMPLE_DOMAINS) or url.startswith(KNOWN_DOMAINS)
                    or _CROSS_VERSION.match(url)):
                self.error("structure", location, f"The extension {url} could not be found so is not allowed here "
                           "(its definition is unknown here; a write accepts it)", tolerated=True)
            return None
        if "|" in url:
            self.error("structure", location + ["url"], f"An extension url must not hold a version ('{url}')")
            return None
        definition = _definition(url)
        if definition is None:
            self.error("structure", location + ["url"], f"Unknown core extension {url}: FHIR R4 defines no "
                       "extension of that url (if it is one of the HL7 extensions pack, it is not checked)",
                       UNKNOWN_CORE_SEVERITY)
            return None
        if definition.modifier and key == "extension":
            self.error("structure", location, f"The extension {url} is a modifier extension: it must be in "
                       "modifierExtension, not extension")
        elif not definition.modifier and key == "modifierExtension":
            self.error("structure", location, f"The extension {url} is not a modifier extension: it must be in "
                       "extension, not modifierExtension")
        if not container.free_context and not _allowed(definition, container):
            self.error("structure", location, f"The extension {url} is not allowed on {_describe(container)}; "
                       f"its contexts: {', '.join(e for _, e in definition.contexts)}")
        self.content(extension, definition.rules, location, url)
        return definition.rules

    def content(self, extension: dict, rules: _Rules, location: list, name: str) -> None:
        """The value and sub-extensions of an extension against its definition (`name`, for messages)."""
        values = [key for key in extension if key.startswith(("value", "_value"))]
        subs = extension.get("extension")
        has_subs = isinstance(subs, list) and any(isinstance(s, dict) for s in subs)
        if rules.value_types:
            if not values and not rules.sub_extensions:
                self.error("required", location + ["value[x]"], f"The extension {name} is a simple extension: "
                           f"it needs a value ({_types(rules.value_types)})")
            for key in values:
                type_name = _value_type(key)
                if type_name not in rules.value_types:
                    self.error("structure", location + ["value[x]"], f"The extension {name} allows a value of "
                               f"type {_types(rules.value_types)}, not {type_name} ({key.lstrip('_')})")
        elif values:
            self.error("structure", location + ["value[x]"], f"The extension {name} is a complex extension: "
                       "it has sub-extensions, not a value")
        elif not has_subs:
            self.error("required", location, f"The extension {name} is a complex extension: it needs "
                       f"sub-extensions ({_types(rules.slices)})")
        if has_subs and not rules.sub_extensions:
            self.error("structure", location + ["extension"], f"The extension {name} is a simple extension: "
                       "it cannot hold sub-extensions")


def _allowed(definition: _Definition, container: _Place) -> bool:
    names = None
    for kind, expression in definition.contexts:
        if kind == "element":
            if expression in _ANY_CONTEXT or (expression == "Resource" and not container.trail):
                return True
            if names is None:
                names = _context_names(container.resource_type, container.trail)
            if expression in names:
                return True
        elif kind == "extension":
            if container.extension_url == expression:
                return True
        else:
            return True  # a FHIRPath context (none in R4's core extensions): not evaluated, accepted
    return not definition.contexts


def _describe(place: _Place) -> str:
    """``Patient.name (a HumanName)``: the element's path in its resource, and its type."""
    path = ".".join([place.resource_type] + [names[0] for names, _, _ in place.trail])
    type_code = place.trail[-1][1] if place.trail else None
    return f"{path} (a {type_code})" if type_code and type_code not in ("BackboneElement", "Element") else path


@lru_cache(maxsize=None)
def _primitive_types() -> frozenset[str]:
    return frozenset(name for name, sd in structure_definitions().items() if sd.get("kind") == "primitive-type")


def _value_type(key: str) -> str:
    """``valueString`` is a string, ``valueCodeableConcept`` a CodeableConcept (as the official validator names them)."""
    suffix = key.lstrip("_")[len("value"):]
    lower = suffix[:1].lower() + suffix[1:]
    return lower if lower in _primitive_types() else suffix


def _types(names) -> str:
    names = sorted(names)
    return ", ".join(names) if len(names) <= 8 else ", ".join(names[:8]) + f"... ({len(names)} types)"
