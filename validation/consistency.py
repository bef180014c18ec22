"""Rules the R4 definitions state in prose between the values of one element or resource (rules.py runs them).

- Attachment (datatypes.html#Attachment): ``size`` is "the number of bytes of data that make up this
  attachment (before base64 encoding)", so with ``data`` it is the length of the decoded data; ``hash`` is
  "the calculated hash of the data using SHA-1. Represented using base64", so with ``data`` it is the
  SHA-1 of the decoded data (a warning only: the official DiagnosticReport-example-pgx.json has a
  hexadecimal hash).
- Identifier: the system ``urn:ietf:rfc:3986`` says the value is a URI (identifier-registry.html), so it
  starts with a scheme, ``urn:oid:2.16.840.1.113883.19.5`` rather than ``2.16.840.1.113883.19.5`` (a
  warning only: the official Organization-2.16.840.1.113883.19.5.json has a bare OID).
- Questionnaire (questionnaire-definitions.html#Questionnaire.item.enableWhen.question): the question is "the
  linkId for the question whose answer (or lack of answer) governs whether this item is enabled", found
  along "the ancestor axis and then the preceding axis and then the following axis": an item of the
  Questionnaire, neither the item itself nor one of its own items (which are only shown when it is).
- SearchParameter.derivedFrom: "the details in the search parameter must be consistent with the definition
  from which it is defined ... the functionality should be a proper subset": the same type, and only resource
  types the original applies to (checked when the original is a core SearchParameter).
- CapabilityStatement.rest.resource.searchParam.type: "It SHALL be the same as the type in the search
  parameter definition" (checked when the definition is a core SearchParameter; an error a write tolerates: three
  official CapabilityStatements declare `version` as a string, and the core parameter is a token).
- SearchParameter.type ``composite`` is "a composite search parameter that combines a search on two values
  together" (search-param-type): it has at least two ``component``s.
- CodeSystem.property.uri "identifies the property": a property of the FHIR defined concept properties
  (``http://hl7.org/fhir/concept-properties#notSelectable``) has the type that code system's definition of
  the property states ("Property type is boolean").
- ValueSet.compose.include.filter.value is "one of the values (true and false), when the operation is
  'exists'", and with the operation ``=`` ("the specified property of the code equals the provided value") on
  a boolean property, true or false too: a property the code system declares boolean, or else a FHIR defined
  concept property of type boolean (``notSelectable``, ``inactive``).
- A parameterised ValueSet (the HL7 tools IG's ``valueset-parameter`` extension, which the official validator
  checks): the ``cqf-expression`` giving a compose filter its value is FHIRPath (``text/fhirpath``), parses,
  and names (``%p-inactive``) only the parameters the ValueSet declares, besides FHIRPath's own variables
  (errors a write tolerates: rules of the official validator, not of R4).
- StructureDefinition: a constraint (``derivation`` ``constraint``) on a core type only constrains the
  elements of that type (profiling.html: a profile cannot add elements, extensions do): every element
  ``path`` of its differential and snapshot is a path of the type (elementdefinition.html: "a '.'-separated
  list of ancestor elements, beginning with the name of the resource or extension"), through datatypes and
  ``contentReference``s; a choice is ``value[x]`` or, restricted to one type, ``valueQuantity``.
- CodeSystem (codesystem-content-mode): a supplement ("provides additional designations and properties to
  another code system", the one named by ``supplements``) has ``content`` ``supplement``, and the other
  way round; ``not-present`` means "none of the concepts defined by the code system are included in the
  code system resource", so there is no ``concept``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections import Counter
from functools import lru_cache
from typing import Iterator

from .definitions import package_resource, search_parameters, structure_definitions
from .fhirpath import compiled
from .elements import children
from .issues import Issue
from .paths import element_path

RFC_3986 = "urn:ietf:rfc:3986"
RESOURCE_TYPES = frozenset({"Questionnaire", "CodeSystem", "SearchParameter", "CapabilityStatement",
                            "StructureDefinition", "ValueSet"})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_WHITESPACE = re.compile(r"\s+")
_VALUE_SET_PARAMETER = "http://hl7.org/fhir/tools/StructureDefinition/valueset-parameter"
_CQF_EXPRESSION = "http://hl7.org/fhir/StructureDefinition/cqf-expression"
_VARIABLE = re.compile(r"%([A-Za-z_][\w\-]*)")
_FHIRPATH_VARIABLES = frozenset({"resource", "rootResource", "context", "ucum", "sct", "loinc", "terminologies",
                                 "server", "factory"})


def element_issues(node: dict, location: list, root: str) -> list[Issue]:
    """The issues of one JSON object (any element or resource); cheap when none of the rules applies."""
    issues: list[Issue] = []
    if "data" in node and ("size" in node or "hash" in node):
        _attachment(node, location, root, issues)
    if node.get("system") == RFC_3986 and isinstance(node.get("value"), str) and not _SCHEME.match(node["value"]):
        issues.append(Issue("warning", "value", element_path(root, location + ["value"]),
                            f"{node['value']!r}: an identifier whose system is {RFC_3986} has a URI as its value, "
                            "with a scheme (urn:oid:..., urn:uuid:..., http://...)"))
    check = _BY_TYPE.get(node.get("resourceType"))
    if check is not None:
        check(node, location, root, issues)
    return issues


def _attachment(node: dict, location: list, root: str, issues: list[Issue]) -> None:
    data = node["data"]
    if not isinstance(data, str):
        return
    try:
        content = base64.b64decode(_WHITESPACE.sub("", data), validate=True)
    except (binascii.Error, ValueError):
        return  # the schema reports data that is not base64
    size = node.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size != len(content):
        issues.append(Issue("error", "value", element_path(root, location + ["size"]),
                            f"The stated size {size} is not the size of the data, {len(content)} bytes "
                            "(Attachment.size counts the bytes before base64 encoding)"))
    stated = node.get("hash")
    if isinstance(stated, str):
        actual = base64.b64encode(hashlib.sha1(content).digest()).decode("ascii")
        if _WHITESPACE.sub("", stated) != actual:
            issues.append(Issue("warning", "value", element_path(root, location + ["hash"]),
                                f"The hash is not the SHA-1 of the data, in base64: {actual}"))


def _items(parent: dict, location: list) -> Iterator[tuple[dict, list]]:
    items = parent.get("item")
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield item, location + ["item", index]


def _link_ids(item: dict) -> Iterator[str]:
    """The linkIds of an item and of all its items."""
    if isinstance(item.get("linkId"), str):
        yield item["linkId"]
    for child, _ in _items(item, []):
        yield from _link_ids(child)


def _questionnaire(questionnaire: dict, location: list, root: str, issues: list[Issue]) -> None:
    every = Counter(_link_ids(questionnaire))
    pending = list(_items(questionnaire, location))
    while pending:
        item, here = pending.pop()
        pending.extend(_items(item, here))
        conditions = item.get("enableWhen")
        if not isinstance(conditions, list):
            continue
        own = item.get("linkId")
        inner = Counter(link_id for child, _ in _items(item, []) for link_id in _link_ids(child))
        for index, condition in enumerate(conditions):
            question = condition.get("question") if isinstance(condition, dict) else None
            if not isinstance(question, str) or every[question] > inner[question] + (question == own):
                continue  # missing (reported by the other layers), or an item outside this one has that linkId
            problem = ("names no item of the Questionnaire" if not every[question] else
                       "names the item itself" if question == own else
                       "names one of the item's own items, which are only enabled when it is")
            issues.append(Issue("error", "value", element_path(root, here + ["enableWhen", index, "question"]),
                                f"enableWhen.question {question!r} {problem}: it is the linkId of an item "
                                "found among the item's ancestors, or before or after it"))


def _code_system(code_system: dict, location: list, root: str, issues: list[Issue]) -> None:
    content, supplements = code_system.get("content"), code_system.get("supplements")
    if supplements is not None and content != "supplement" and isinstance(content, str):
        issues.append(Issue("error", "value", element_path(root, location + ["content"]),
                            f"A code system supplement (it supplements {supplements!r}) has the content "
                            f"'supplement', not {content!r}"))
    elif content == "supplement" and supplements is None:
        issues.append(Issue("error", "required", element_path(root, location + ["supplements"]),
                            "A code system whose content is 'supplement' names the code system it supplements "
                            "(supplements)"))
    if content == "not-present" and code_system.get("concept"):
        issues.append(Issue("error", "value", element_path(root, location + ["concept"]),
                            "The content 'not-present' says the resource includes none of the code system's "
                            "concepts, but it has some"))
    _code_system_properties(code_system, location, root, issues)


CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties"
_PROPERTY_TYPE = re.compile(r"[Pp]roperty type (?:is|will be) '?([A-Za-z]+)'?")


@lru_cache(maxsize=1)
def concept_property_types() -> dict[str, str]:
    """The type of each FHIR defined concept property (``notSelectable`` -> ``boolean``), as the definitions of
    the R4 code system concept-properties state it."""
    code_system = package_resource("CodeSystem", CONCEPT_PROPERTIES) or {}
    return {concept["code"]: match[1] for concept in code_system.get("concept", ())
            if (match := _PROPERTY_TYPE.search(concept.get("definition", "")))}


def _code_system_properties(code_system: dict, location: list, root: str, issues: list[Issue]) -> None:
    for here, declared in _entries(code_system, "property", location):
        uri, kind = declared.get("uri"), declared.get("type")
        if not isinstance(uri, str) or not isinstance(kind, str) or not uri.startswith(CONCEPT_PROPERTIES + "#"):
            continue
        expected = concept_property_types().get(uri.partition("#")[2])
        if expected is not None and kind != expected:
            issues.append(Issue("error", "value", element_path(root, here + ["type"]),
                                f"The property {uri} has the type {expected!r} (FHIR defined concept "
                                f"properties), not {kind!r}"))


def _core_search_parameter(url: object) -> dict | None:
    if not isinstance(url, str):
        return None
    return _core_search_parameters().get(url.split("|", 1)[0])


@lru_cache(maxsize=1)
def _core_search_parameters() -> dict[str, dict]:
    return {parameter["url"]: parameter for parameter in search_parameters() if isinstance(parameter.get("url"), str)}


def _search_parameter(parameter: dict, location: list, root: str, issues: list[Issue]) -> None:
    components = parameter.get("component")
    count = len(components) if isinstance(components, list) else 0
    if parameter.get("type") == "composite" and count < 2:
        issues.append(Issue("error", "required", element_path(root, location + ["component"]),
                            f"A composite search parameter combines a search on two values or more: it has at "
                            f"least two components ({count} found)"))
    original = _core_search_parameter(parameter.get("derivedFrom"))
    if original is None:
        return
    kind = parameter.get("type")
    if isinstance(kind, str) and kind != original.get("type"):
        issues.append(Issue("error", "value", element_path(root, location + ["type"]),
                            f"The type {kind!r} is not the type {original.get('type')!r} of the search parameter "
                            f"it is derived from ({original['url']})"))
    bases = parameter.get("base")
    if isinstance(bases, list):
        for index, base in enumerate(bases):
            if isinstance(base, str) and base not in original.get("base", ()):
                issues.append(Issue("error", "value", element_path(root, location + ["base", index]),
                                    f"{base!r} is not a base of the search parameter it is derived from "
                                    f"({original['url']}: {', '.join(original.get('base', ()))})"))


def _capability_statement(statement: dict, location: list, root: str, issues: list[Issue]) -> None:
    for at_rest, rest in _entries(statement, "rest", location):
        for at_resource, resource in _entries(rest, "resource", at_rest):
            for here, parameter in _entries(resource, "searchParam", at_resource):
                definition = _core_search_parameter(parameter.get("definition"))
                kind = parameter.get("type")
                if definition is not None and isinstance(kind, str) and kind != definition.get("type"):
                    issues.append(Issue("error", "value", element_path(root, here + ["type"]),
                                        f"The type {kind!r} is not the type {definition.get('type')!r} of the "
                                        f"search parameter definition ({definition['url']})", tolerated=True))


def _entries(parent: dict, name: str, location: list) -> Iterator[tuple[list, dict]]:
    """(location, object) of each object of an array property."""
    values = parent.get(name)
    if isinstance(values, list):
        for index, value in enumerate(values):
            if isinstance(value, dict):
                yield location + [name, index], value


def _structure_definition(definition: dict, location: list, root: str, issues: list[Issue]) -> None:
    type_name = definition.get("type")
    if definition.get("derivation") != "constraint" or not isinstance(type_name, str) \
            or type_name not in structure_definitions():
        return
    for part in ("differential", "snapshot"):
        holder = definition.get(part)
        if not isinstance(holder, dict):
            continue
        for here, element in _entries(holder, "element", location + [part]):
            path = element.get("path")
            if isinstance(path, str) and not _designates(type_name, path):
                issues.append(Issue("error", "value", element_path(root, here + ["path"]),
                                    f"{path!r} is not an element of {type_name}: a profile constrains the "
                                    "elements of its type and defines none (extensions do)"))


def _designates(type_name: str, path: str) -> bool:
    """Whether an ElementDefinition path names an element of the type (``Observation.code.coding.system``)."""
    steps = path.split(".")
    if steps[0] != type_name:
        return False
    contexts = {type_name}
    for step in steps[1:]:
        found = set()
        for context in contexts:
            for name, child in children(context).items():
                if child.defined_as == step or (name == step and child.defined_as.endswith("[x]")):
                    found.add(child.node_type)
        if not found:
            return False
        contexts = found
    return True


def _value_set(value_set: dict, location: list, root: str, issues: list[Issue]) -> None:
    compose = value_set.get("compose")
    if not isinstance(compose, dict):
        return
    for part in ("include", "exclude"):
        for at_include, include in _entries(compose, part, location + ["compose"]):
            for here, condition in _entries(include, "filter", at_include):
                _filter_expressions(condition, _parameters(value_set), here, root, issues)
                op, value, name = condition.get("op"), condition.get("value"), condition.get("property")
                if not isinstance(value, str) or value in ("true", "false"):
                    continue
                if op == "exists" or (op == "=" and _property_type(include.get("system"), name) == "boolean"):
                    what = "'exists'" if op == "exists" else f"'=' on the boolean property {name!r}"
                    issues.append(Issue("error", "value", element_path(root, here + ["value"]),
                                        f"The value of a filter {what} is true or false, not {value!r}"))


def _parameters(value_set: dict) -> set[str]:
    """The names of the parameters a ValueSet declares (``valueset-parameter`` extensions)."""
    return {sub.get("valueCode") for extension in value_set.get("extension") or () if isinstance(extension, dict)
            and extension.get("url") == _VALUE_SET_PARAMETER for sub in extension.get("extension") or ()
            if isinstance(sub, dict) and sub.get("url") == "name"}


def _filter_expressions(condition: dict, parameters: set[str], location: list, root: str,
                        issues: list[Issue]) -> None:
    """The expressions (``cqf-expression`` on ``_value``) that give a filter its value."""
    companion = condition.get("_value")
    extensions = companion.get("extension") if isinstance(companion, dict) else None
    for index, extension in enumerate(extensions if isinstance(extensions, list) else ()):
        expression = extension.get("valueExpression") if isinstance(extension, dict) and \
            extension.get("url") == _CQF_EXPRESSION else None
        if not isinstance(expression, dict):
            continue
        path = element_path(root, location + ["_value", "extension", index, "valueExpression"])
        language, text = expression.get("language"), expression.get("expression")
        if language != "text/fhirpath":
            issues.append(Issue("error", "value", path, "A ValueSet filter's expression language must be "
                                f"'text/fhirpath', not {language!r}", tolerated=True))
            continue
        if not isinstance(text, str):
            continue
        try:
            compiled(text)
        except Exception as error:  # fhirpathpy raises assorted types on a syntax error
            issues.append(Issue("error", "value", path, f"The expression {text!r} is not valid FHIRPath ({error})", tolerated=True))
            continue
        unknown = sorted({name for name in _VARIABLE.findall(text) if name not in parameters
                          and name not in _FHIRPATH_VARIABLES and not name.startswith(("vs-", "ext-"))})
        if unknown:
            issues.append(Issue("error", "value", path, f"The expression {text!r} names parameters the ValueSet "
                                f"does not declare: {', '.join(unknown)}", tolerated=True))


def _property_type(system: object, name: object) -> str | None:
    """The type of a code system's property: declared by the code system (in the R4 package), or else that of
    the FHIR defined concept property of that code."""
    if not isinstance(name, str):
        return None
    code_system = package_resource("CodeSystem", system) if isinstance(system, str) else None
    for declared in (code_system or {}).get("property", ()):
        if declared.get("code") == name:
            return declared.get("type")
    return concept_property_types().get(name)


# resource type -> the rules its definition states in prose between values
_BY_TYPE = {"Questionnaire": _questionnaire, "CodeSystem": _code_system, "SearchParameter": _search_parameter,
            "CapabilityStatement": _capability_statement, "StructureDefinition": _structure_definition,
            "ValueSet": _value_set}
