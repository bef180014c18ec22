"""Layer 1: the official R4 JSON schema (fhir.schema.json, draft-06), corrected (see corrected_schema.py).

A resource is checked against its own type's definition, never the root ``oneOf`` of all 146 types (slow,
and its errors say nothing useful). The one ``oneOf`` inside the definitions, ``ResourceList`` (a
contained resource, ``Bundle.entry.resource``, ``Parameters.parameter.resource``), is dispatched on the
nested resource's own ``resourceType`` in the same way, so its errors keep their paths.
"""
from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from typing import Iterator

from jsonschema import Draft6Validator, ValidationError, validators

from .corrected_schema import (ABSOLUTE_KEYWORD, BASE64_KEYWORD, LOCAL_REF, NULLABLE_KEYWORD, URI_KEYWORD,
                               definitions, resource_list)
from .issues import Issue
from .paths import element_path

_WHITESPACE = re.compile(r"\s+")
_MAX_CODES_SHOWN = 12
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a decimal number", type(None): "null"}
_SCHEMA_TYPES = {"object": "an object", "array": "an array", "string": "a string", "boolean": "a boolean",
                 "number": "a number", "integer": "an integer"}
_EMPTY = {"minLength": "Empty string", "minItems": "Empty array", "minProperties": "Empty object"}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+\Z")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


@lru_cache(maxsize=1)
def resource_types() -> frozenset[str]:
    """Every R4 resource type."""
    return frozenset(resource_list()[1])


def schema_issues(resource: dict) -> list[Issue]:
    """The problems the JSON schema finds in a resource whose resourceType is a known R4 type."""
    root = resource["resourceType"]
    return [issue for error in _validator(root).iter_errors(resource) for issue in _issues(root, error)]


# -- the validator ---------------------------------------------------------------------------------------
def _ref(validator, ref, instance, _schema) -> Iterator[ValidationError]:
    # Every reference in the schema is local (#/definitions/Name): a dict lookup instead of jsonschema's
    # general resolver, which took a third of the time.
    yield from validator.descend(instance, definitions()[ref[len(LOCAL_REF):]])


def _one_of(validator, one_of, instance, schema) -> Iterator[ValidationError]:
    branches, indexes = resource_list()
    if one_of is not branches:
        yield from _DRAFT6_ONE_OF(validator, one_of, instance, schema)
        return
    if not isinstance(instance, dict):
        yield ValidationError("A resource must be a JSON object", validator="resource", instance=instance)
        return
    resource_type = instance.get("resourceType")
    if resource_type not in indexes:
        message = "A resource needs a resourceType" if resource_type is None else \
            f"{resource_type!r} is not an R4 resource type"
        yield ValidationError(message, validator="resourceType", instance=resource_type, path=["resourceType"])
        return
    index = indexes[resource_type]
    yield from validator.descend(instance, branches[index], schema_path=index)


def _base64(_validator, enabled, instance, _schema) -> Iterator[ValidationError]:
    if enabled and isinstance(instance, str):
        try:
            base64.b64decode(_WHITESPACE.sub("", instance), validate=True)
        except (binascii.Error, ValueError):
            yield ValidationError("The value is not valid base64", instance=instance)


def _uri(_validator, enabled, instance, _schema) -> Iterator[ValidationError]:
    if not (enabled and isinstance(instance, str) and instance[:4].lower() == "urn:"):
        return
    prefix, rest = instance[:9].lower(), instance[9:].split("#", 1)[0]  # a URI reference may add a #fragment
    if prefix == "urn:uuid:":
        if not _UUID.match(rest):
            yield _fhir_error("A urn:uuid: URI holds a UUID, 8-4-4-4-12 hexadecimal digits (RFC 4122)", instance)
        elif rest != rest.lower() or not instance.startswith("urn:uuid:"):
            yield _fhir_error("A UUID URI is written in lowercase (R4 datatypes.html#uri)", instance, "warning")
    elif instance[:8].lower() == "urn:oid:" and not _OID.match(instance[8:].split("#", 1)[0]):
        yield _fhir_error("A urn:oid: URI holds an OID: numbers separated by dots, the first 0, 1 or 2, none with a "
                          "leading zero (RFC 3001)", instance, "warning")


def _absolute(_validator, rule, instance, _schema) -> Iterator[ValidationError]:
    if not isinstance(instance, str) or _SCHEME.match(instance):
        return
    if instance.startswith("#"):  # a canonical may name a contained resource (datatypes.html#canonical)
        if rule["type"] != "canonical":  # an official example has a ValueSet.compose.include.system "#hacked"
            yield _fhir_error("The element is an absolute URI (its definition says so), not a #reference to a "
                              "contained resource", instance, tolerated=True)
        return
    if rule["tolerated"]:
        yield _fhir_error("The element is an absolute URI, as the official validator requires (a write accepts a "
                          "relative one): it starts with a scheme such as http: or urn:", instance, tolerated=True)
    else:
        yield _fhir_error("The element is an absolute URI (its definition says so): it starts with a scheme such "
                          "as http: or urn:", instance)


def _fhir_error(message: str, instance: object, severity: str = "error", tolerated: bool = False) -> ValidationError:
    error = ValidationError(message, instance=instance)
    error.fhir_severity = severity  # type: ignore[attr-defined]
    error.fhir_tolerated = tolerated  # type: ignore[attr-defined]
    return error


def _nullable(validator, schema, instance, _parent) -> Iterator[ValidationError]:
    if instance is not None:
        yield from validator.descend(instance, schema)


_DRAFT6_ONE_OF = Draft6Validator.VALIDATORS["oneOf"]
_Validator = validators.extend(Draft6Validator, {"$ref": _ref, "oneOf": _one_of, BASE64_KEYWORD: _base64,
                                                 NULLABLE_KEYWORD: _nullable, URI_KEYWORD: _uri,
                                                 ABSOLUTE_KEYWORD: _absolute})


@lru_cache(maxsize=None)
def _validator(resource_type: str) -> Draft6Validator:
    return _Validator(definitions()[resource_type])


@lru_cache(maxsize=1)
def _type_names() -> dict[int, str]:
    """The name of each primitive type definition, by the identity of its schema."""
    return {id(schema): name for name, schema in definitions().items() if "properties" not in schema}


# -- errors to issues ----------------------------------------------------------------------------------
def _issues(root: str, error: ValidationError) -> Iterator[Issue]:
    location = list(error.absolute_path)
    path = element_path(root, location)
    kind, value = error.validator, error.instance
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        for name in value:
            if name not in known:
                yield Issue("error", "structure", element_path(root, location + [name]), f"Unknown property '{name}'")
    elif kind == "required":
        for name in error.validator_value:
            if name not in value:
                yield Issue("error", "required", element_path(root, location + [name]),
                            f"Missing required element '{name}'")
    elif kind == "type":
        yield Issue("error", "structure", path, f"Expected {_expected(error.validator_value)}, "
                                                f"found {_JSON_TYPES.get(type(value), 'a value')}")
    elif kind in _EMPTY or (value == "" and kind in ("pattern", "enum")):
        code = "value" if isinstance(value, str) else "structure"
        yield Issue("error", code, path, f"{_EMPTY.get(kind, 'Empty string')}: leave the element out instead")
    elif kind == "enum":
        if not isinstance(value, str):
            yield Issue("error", "structure", path, f"Expected a string (a code), found {_JSON_TYPES.get(type(value))}")
            return
        codes = ", ".join(map(str, error.validator_value[:_MAX_CODES_SHOWN]))
        more = ", ..." if len(error.validator_value) > _MAX_CODES_SHOWN else ""
        yield Issue("error", "code-invalid", path, f"{_shown(value)} is not one of the allowed codes ({codes}{more})")
    elif kind == "pattern":
        yield Issue("error", "value", path, f"{_shown(value)} is not a valid {_type_name(error)}")
    elif kind in ("minimum", "maximum"):
        yield Issue("error", "value", path, f"{value} is out of range for {_type_name(error)}")
    elif kind == "resource":
        yield Issue("error", "structure", path, error.message)
    elif kind in ("const", "resourceType"):
        yield Issue("error", "invalid", path, error.message)
    elif kind in (URI_KEYWORD, ABSOLUTE_KEYWORD):
        yield Issue(getattr(error, "fhir_severity", "error"), "value", path, f"{_shown(value)}: {error.message}",
                    tolerated=getattr(error, "fhir_tolerated", False))
    else:
        yield Issue("error", "value", path, error.message)


def _type_name(error: ValidationError) -> str:
    return _type_names().get(id(error.schema), "its type")


def _expected(wanted: object) -> str:
    if isinstance(wanted, str):
        return _SCHEMA_TYPES.get(wanted, wanted)
    return " or ".join(_SCHEMA_TYPES.get(name, name) for name in wanted)  # type: ignore[union-attr]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
