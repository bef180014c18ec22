"""The official R4 JSON schema's definitions, with its known faults corrected.

Each correction makes the schema agree with the R4 StructureDefinitions (the normative definition), and
was found by comparing the two or by running the official examples through it:
- choice elements (``valueInteger``) copy their primitive's schema inline: they point at the primitive's
  definition instead, so that the corrections below reach them;
- patterns mean what FHIR means under Python's ``re``: ``\\s``/``\\S`` are the four XML Schema whitespace
  characters, not every Unicode space (a string starting with a no-break space is valid), and
  ``$`` becomes ``\\Z`` (Python's ``$`` also matches before a final newline: ``"abc\\n"`` as an id);
- ``integer``, ``positiveInt`` and ``unsignedInt`` are JSON integers within 32 bits with their minimum
  (the schema says ``number``, and a pattern does not apply to numbers, so ``1.5`` and ``-1`` passed);
- ``base64Binary`` content is checked (the schema has no pattern for it);
- every complex type is a JSON object and ``xhtml`` a string (the schema does not say so: ``"text": null``
  or ``"div": 5`` passed);
- no empty values: FHIR JSON elements "must have a value or children", so no ``""``, ``[]`` or ``{}``;
- the ``_x`` companion of every ``canonical`` element (``Meta._profile``...) and the ``Meta`` choice of
  the open types (``Extension.valueMeta``...) exist: the schema generator left both out;
- a ``code`` with a required binding accepts the selectable codes of its R4 value set: 85 such elements
  had no enum at all (``DocumentReference.docStatus``, ``MedicationRequest.status``...) and the
  FHIRVersion codes stopped at 4.0.0 (4.0.1 is the technical correction the schema predates);
- a ``code`` whose binding is not required accepts any code: the schema had an enum for one such element,
  ``Expression.language`` (extensible in R4: ``text/plain`` is valid, not only ``text/cql``, ``text/fhirpath``
  and ``application/x-fhir-query``);
- entries of a primitive array and of its ``_x`` companion may be null (``rules.py`` checks the pairing);
- a ``uri``, ``url`` or ``canonical`` value that is a ``urn:uuid:`` is a UUID (RFC 4122, datatypes.html#uuid;
  lowercase, datatypes.html#uri, a warning: two official examples have uppercase ones), and a ``urn:oid:``
  an OID (RFC 3001, datatypes.html#oid; a warning: an official example has ``urn:oid:X.Y.Z``): the schema
  only checks the ``uuid`` and ``oid`` types, and every URI is any string without whitespace;
- an element whose definition says it is an absolute URI (``ValueSet.url``, ``CodeSystem.url``...,
  ``ValueSet.compose.include.system``, ``StructureDefinition.baseDefinition``) has a scheme; a ``canonical``
  may also be a ``#fragment`` naming a contained resource, a ``uri`` not (an error a write tolerates: an
  official ValueSet has a ``compose.include.system`` ``#hacked``). Every other ``canonical`` and
  ``Coding.system`` too, as the official validator requires ("Canonical URLs must be absolute URLs if they
  are not fragment references", "Coding.system must be an absolute reference"), errors a write tolerates:
  63 official examples have relative canonicals (``Library/...``).
"""
from __future__ import annotations

import copy
from functools import lru_cache

from .definitions import URI_TYPES, absolute_uri_elements, canonical_elements, json_schema, open_bindings, required_codes

BASE64_KEYWORD = "fhirBase64"
NULLABLE_KEYWORD = "fhirNullable"
URI_KEYWORD = "fhirUri"  # on uri, url and canonical: urn:uuid and urn:oid values well-formed
# Its value: {"type": the element's type (a canonical may be a #fragment), "tolerated": whether a write accepts
# a relative value (Issue.tolerated)}.
ABSOLUTE_KEYWORD = "fhirAbsoluteUri"
# Elements whose value the official validator requires to be absolute, though their definition does not say so.
_ABSOLUTE_BY_VALIDATOR = {"Coding.system": "uri"}
LOCAL_REF = "#/definitions/"
_INT32 = {"minimum": -2**31, "maximum": 2**31 - 1}
_INTEGERS = {"integer": _INT32, "positiveInt": {**_INT32, "minimum": 1}, "unsignedInt": {**_INT32, "minimum": 0}}
_OPEN_TYPE_MARKERS = ("Address", "TriggerDefinition")  # with Dosage: an open type ([x] of every datatype)


@lru_cache(maxsize=1)
def definitions() -> dict:
    """The corrected ``definitions`` of fhir.schema.json, by name (``Patient``, ``HumanName``, ``date``)."""
    result = copy.deepcopy(json_schema()["definitions"])
    primitives = {name for name, definition in result.items() if "properties" not in definition}
    for name, definition in result.items():
        if name in primitives:
            _correct_primitive(name, definition)
            continue
        properties = definition.get("properties", {})
        if properties:
            definition.update(type="object", minProperties=1)
        _use_primitive_definitions(properties, primitives)
        _add_missing_properties(properties)
        for schema in properties.values():
            if schema.get("type") == "array":
                schema["minItems"] = 1
    _bind_required_codes(result)
    _unbind_open_codes(result)
    for definition in result.values():
        _allow_null_entries(definition.get("properties", {}), primitives)
    _require_absolute_uris(result)
    return result


@lru_cache(maxsize=1)
def resource_list() -> tuple[list, dict[str, int]]:
    """The ``oneOf`` of ``ResourceList`` (any resource), and each resource type's index in it."""
    one_of = definitions()["ResourceList"]["oneOf"]
    return one_of, {ref["$ref"][len(LOCAL_REF):]: index for index, ref in enumerate(one_of)}


def _correct_primitive(name: str, definition: dict) -> None:
    if name == "xhtml":
        definition["type"] = "string"
    if definition.get("type") == "string":
        definition["minLength"] = 1
        if "pattern" in definition:
            definition["pattern"] = _python_pattern(definition["pattern"])
    else:  # a pattern only applies to strings: it would only add a second error to a wrong JSON type
        definition.pop("pattern", None)
    if name in _INTEGERS:
        definition.update(type="integer", **_INTEGERS[name])
    if name == "base64Binary":
        definition[BASE64_KEYWORD] = True
    if name in URI_TYPES:
        definition[URI_KEYWORD] = True


def _python_pattern(pattern: str) -> str:
    pattern = pattern.replace(r"[ \r\n\t\S]", "(?s:.)").replace(r"[^\s]", r"\S")
    pattern = pattern.replace(r"\S", r"[^ \t\n\r]").replace(r"\s", r"[ \t\n\r]")
    return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern


def _use_primitive_definitions(properties: dict, primitives: set[str]) -> None:
    for name, schema in properties.items():
        if "pattern" in schema and "$ref" not in schema:
            primitive = max((p for p in primitives if name.endswith(p[0].upper() + p[1:])), key=len)
            properties[name] = {"$ref": LOCAL_REF + primitive}


def _add_missing_properties(properties: dict) -> None:
    for name, schema in list(properties.items()):
        if schema.get("items", schema).get("$ref") == LOCAL_REF + "canonical" and f"_{name}" not in properties:
            element = {"$ref": LOCAL_REF + "Element"}
            properties[f"_{name}"] = {"items": element, "type": "array"} if "items" in schema else element
        prefix = name[:-len("Dosage")]
        if name.endswith("Dosage") and all(prefix + kind in properties for kind in _OPEN_TYPE_MARKERS):
            properties.setdefault(prefix + "Meta", {"$ref": LOCAL_REF + "Meta"})


def _bind_required_codes(result: dict) -> None:
    for path, codes in required_codes().items():
        owner = _owner(result, path)
        name = path.rsplit(".", 1)[1]
        schema = owner.get("properties", {}).get(name) if owner else None
        if schema is None:
            continue
        target = schema.get("items", schema)
        listed = target.get("enum")
        if listed is None and target.get("$ref") != LOCAL_REF + "code":
            continue
        bound = {"enum": (listed or []) + [code for code in codes if code not in (listed or [])]}
        if "items" in schema:
            schema["items"] = bound
        else:
            owner["properties"][name] = bound


def _unbind_open_codes(result: dict) -> None:
    """Only a required binding limits the codes (terminologies.html#strength): an extensible, preferred or
    example binding with an enum in the official schema becomes a plain ``code``."""
    for path in open_bindings():
        owner = _owner(result, path) if "." in path else None
        schema = (owner or {}).get("properties", {}).get(path.rsplit(".", 1)[-1])
        if schema is None or "enum" not in schema.get("items", schema):
            continue
        code = {"$ref": LOCAL_REF + "code"}
        owner["properties"][path.rsplit(".", 1)[-1]] = {**schema, "items": code} if "items" in schema else code


def _owner(result: dict, path: str) -> dict | None:
    """The definition holding the last element of a path (``Timing.repeat.dayOfWeek``: ``Timing_Repeat``)."""
    steps = path.split(".")
    node = result.get(steps[0])
    for step in steps[1:-1]:
        schema = (node or {}).get("properties", {}).get(step)
        reference = (schema or {}).get("items", schema or {}).get("$ref", "")
        if not reference.startswith(LOCAL_REF):
            return None
        node = result.get(reference[len(LOCAL_REF):])
    return node


def _require_absolute_uris(result: dict) -> None:
    stated = absolute_uri_elements()
    tolerated = {**dict.fromkeys(canonical_elements() - stated.keys(), "canonical"), **_ABSOLUTE_BY_VALIDATOR}
    for path, type_code in (*stated.items(), *tolerated.items()):
        owner = _owner(result, path)
        name = path.rsplit(".", 1)[1]
        schema = (owner or {}).get("properties", {}).get(name)
        if schema is None:
            continue
        keyword = {ABSOLUTE_KEYWORD: {"type": type_code, "tolerated": path in tolerated}}
        checked = {"allOf": [schema.get("items", schema), keyword]}
        owner["properties"][name] = {**schema, "items": checked} if "items" in schema else checked


def _allow_null_entries(properties: dict, primitives: set[str]) -> None:
    for name, schema in properties.items():
        items = schema.get("items", {})
        target = items.get("$ref", "")[len(LOCAL_REF):]
        if target in primitives or "enum" in items or (name.startswith("_") and target == "Element"):
            schema["items"] = {NULLABLE_KEYWORD: items}
