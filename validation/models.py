"""Layer 2: the fhir.resources 6.4.0 models of R4 (4.0.1), pydantic v1.

They check what the JSON schema cannot: required primitive elements (``Consent.status``, which the
schema leaves out because ``_status`` may stand in for it), choice elements (exactly one of
``medication[x]``, at most one of ``deceased[x]``), and that dates and times are real ones
(``2020-02-30`` matches the schema's pattern). Why this version: see README.md.
"""
from __future__ import annotations

import re
from typing import Iterator

from fhir.resources import get_fhir_model_class
from pydantic import ValidationError

from .issues import Issue
from .paths import element_path

_CHOICES = re.compile(r"\[([^\]]*)\]")
_TOO_MANY_CHOICES = "but got multiple"
_NO_CHOICE = "Expect any of field value from this list"
_EXTENSIONS = ("extension", "modifierExtension")
_TIME_ERRORS = ("value_error.datetime", "value_error.time")
_LEAP_SECOND = re.compile(r"[0-9]{2}:[0-9]{2}:60")
# fhir.resources' messages for a JSON value of the wrong type where a datatype or resource is expected
_WRONG_JSON_TYPE = ("Invalid json str value", "Value is expected from the instance of")


def model_issues(resource: dict) -> list[Issue]:
    """The problems the R4 model of the resource's type finds in it."""
    root = resource["resourceType"]
    try:
        get_fhir_model_class(root).parse_obj(resource)
    except ValidationError as e:
        return [issue for error in e.errors() for issue in _issues(root, resource, error)]
    except Exception as e:  # noqa: BLE001 - see below
        # fhir.resources raises plain errors (LookupError, AttributeError) on some malformed nested
        # resources (`"contained": [5]`, an unknown resourceType), which the schema layer reports with
        # their paths; the model's own checks are then lost for this resource, which this warning says.
        return [Issue("warning", "exception", root,
                      f"The R4 model could not check this resource ({type(e).__name__}: {e})")]
    return []


def _issues(root: str, resource: dict, error: dict) -> Iterator[Issue]:
    location = [step for step in error["loc"] if step != "__root__"]
    kind, message = error["type"], error["msg"]
    if _is_false_positive(error["loc"], kind) or (kind in _TIME_ERRORS and _is_leap_second(_at(resource, location))):
        return
    if kind == "type_error.none.not_allowed" and _is_paired_null(resource, location):
        return
    if kind == "value_error" and (_TOO_MANY_CHOICES in message or _NO_CHOICE in message):
        yield _choice_issue(root, resource, location, message)
    elif kind == "value_error.missing":
        yield Issue("error", "required", element_path(root, location),
                    f"Missing required element '{location[-1]}'")
    elif kind == "value_error.extra":
        yield Issue("error", "structure", element_path(root, location), f"Unknown property '{location[-1]}'")
    elif kind.startswith("type_error") or kind == "value_error.jsondecode" or message.startswith(_WRONG_JSON_TYPE):
        yield Issue("error", "structure", element_path(root, location), f"Wrong JSON type: {message}")
    else:
        yield Issue("error", "value", element_path(root, location), f"Invalid value: {message}")


def _is_false_positive(loc: tuple, kind: str) -> bool:
    """fhir.resources 6.4.0 refusing valid R4 (each case seen in the official examples or the spec):

    - its regexes read ``\\s`` as any Unicode space (a code ending in a no-break space is valid R4); the
      schema layer checks the same patterns with their intended meaning;
    - its ``url`` type is pydantic's URL (or e-mail) check, far stricter than R4's ``\\S*``: it refuses
      ``patient-example.html`` and ``127.0.0.1``, found in official examples;
    - its Extension model lacks the ``_valueString``-style companions (the schema layer checks them);
    - it requires ``extension`` in a primitive's ``_x`` companion, where ``{"id": "a"}`` is valid.
    """
    if kind == "value_error.str.regex" or kind.startswith(("value_error.url", "value_error.email")):
        return True
    if kind == "value_error.extra" and len(loc) >= 3 and loc[-3] in _EXTENSIONS and loc[-1].startswith("_value"):
        return True
    return (kind == "value_error.missing" and loc[-2:] == ("__root__", "extension")
            and any(isinstance(step, str) and step.startswith("_") and step != "__root__" for step in loc[-4:-2]))


def _choice_issue(root: str, resource: dict, location: list, message: str) -> Issue:
    match = _CHOICES.search(message)
    names = [name.strip(" '") for name in match.group(1).split(",")] if match else []
    element = _choice_name(names)
    path = element_path(root, location + [f"{element}[x]"])
    if _NO_CHOICE in message:
        return Issue("error", "required", path, f"Missing required element '{element}[x]' (one of {', '.join(names)})")
    node = _at(resource, location)
    present = [name for name in names if isinstance(node, dict) and name in node]
    return Issue("error", "structure", path,
                 f"Only one '{element}[x]' value is allowed, found {' and '.join(present or names)}")


def _choice_name(names: list[str]) -> str:
    """``deceased`` for ``deceasedBoolean``, ``deceasedDateTime``: the prefix before each type name."""
    shortest = min(names, key=len, default="")
    for end in range(len(shortest) - 1, 0, -1):
        prefix = shortest[:end]
        if all(name.startswith(prefix) and name[end].isupper() for name in names):
            return prefix
    return shortest


def _is_paired_null(resource: dict, location: list) -> bool:
    """A null entry of a code array (``"category": [null]``, ``"_category": [{"extension": [...]}]``), which its
    model refuses though JSON represents so a repetition without value (json.html#primitive); rules.py checks
    that the ``_x`` companion has the matching entry."""
    if len(location) < 2 or not isinstance(location[-1], int) or not isinstance(location[-2], str):
        return False
    return _at(resource, location) is None and isinstance(_at(resource, location[:-2]), dict)


def _is_leap_second(value: object) -> bool:
    """Python's datetime refuses second 60 (a leap second), which R4 allows; the schema checks the format."""
    return isinstance(value, str) and _LEAP_SECOND.search(value) is not None


def _at(resource: dict, location: list) -> object:
    node: object = resource
    for step in location:
        try:
            node = node[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return node
