"""FHIRPath as the validators use it: fhirpathpy 2.2.4 with its R4 model, compiled once per expression.

- The model (`fhirpathpy.models["r4"]`) gives each node its FHIR type, which `is`, `as` and `ofType` need
  (``probability is decimal`` on ``probabilityDecimal``) and which makes dates compare as dates.
  fhirpathpy keeps it in a class attribute that `ofType` reads without setting: it is set here once.
- `hasValue()`, which R4 invariants use (per-1, ele-1...), is added; fhirpathpy does not have it.
- fhirpathpy compares two date, dateTime, instant or time elements as strings (`'2023-06-21T10:00:00+05:00' <=
  '2023-06-21T06:00:00Z'` was true): they are compared as dates here, and at different precisions
  (`'2023-06-21' <= '2023-06-21T06:20:00Z'`) the comparison is empty, as FHIRPath says.
- An invariant holds when it evaluates to true: false or nothing (an unknown comparison) fails it, as in the
  HL7 validator.
- fhirpathpy returns a primitive's `_x` companion as a second node beside its value (``start`` would be two
  nodes), so `view()` gives expressions the JSON without the companions of primitives that have a value.
- An expression calling a function fhirpathpy lacks (`resolve()`, `htmlChecks()`...) is `unsupported()`.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
import re
from itertools import zip_longest

import fhirpathpy
from fhirpathpy.engine.invocations import equality, invocation_registry
from fhirpathpy.engine.nodes import FP_DateTime, FP_Time, ResourceNode, TypeInfo
from fhirpathpy.models import models
from fhirpathpy.parser import parse

R4 = models["r4"]
TypeInfo.model = R4
_DATE_TYPES = {"date": FP_DateTime, "dateTime": FP_DateTime, "instant": FP_DateTime, "time": FP_Time}
_typecheck = equality.typecheck


def _typed(nodes: list) -> list:
    """A date, dateTime, instant or time node as fhirpathpy's date type, so that it compares as a date."""
    if len(nodes) == 1 and isinstance(nodes[0], ResourceNode) and isinstance(nodes[0].data, str):
        kind = _DATE_TYPES.get(nodes[0].path)
        if kind is not None:
            converted = kind(nodes[0].data)
            if converted._getMatchAsList():
                return [converted]
    return nodes


_TIME_ZONE = re.compile(r"(Z|[+-][0-9]{2}:[0-9]{2})$")


def _typecheck_dates(a: list, b: list) -> list:
    if _comparable_as_strings(a, b):
        return _typecheck(a, b)  # fhirpathpy's date conversion parses with dateutil: ~0.1 ms a value
    return _typecheck(_typed(a), _typed(b))


def _comparable_as_strings(a: list, b: list) -> bool:
    """Two date values of the same precision and time zone, whose string order is their time order."""
    if len(a) != 1 or len(b) != 1 or not isinstance(a[0], ResourceNode) or not isinstance(b[0], ResourceNode):
        return False
    left, right = a[0].data, b[0].data
    if not isinstance(left, str) or not isinstance(right, str) or len(left) != len(right):
        return False
    zone = _TIME_ZONE.search(left)
    return (zone.group() if zone else "") == ((found := _TIME_ZONE.search(right)) and found.group() or "")


equality.typecheck = _typecheck_dates
_FUNCTIONS = {"hasValue": {"fn": lambda inputs: len(inputs) == 1 and not isinstance(inputs[0], (dict, list))}}
_OPTIONS = {"userInvocationTable": _FUNCTIONS, "traceFn": lambda label, value: None}
# The environment variables the validators set (fhirpathpy sets %context and %ucum).
VARIABLES = frozenset({"context", "ucum", "resource", "rootResource"})


@lru_cache(maxsize=None)
def compiled(expression: str) -> Callable:
    """The expression compiled against the R4 model (raises on a syntax error)."""
    return fhirpathpy.compile(expression, R4, _OPTIONS)


def holds(expression: str, node: object, node_type: str, variables: dict) -> bool | None:
    """Whether the invariant holds on `node` (JSON as given by `view()`), of FHIR type or backbone path
    `node_type`: False when it evaluates to false or to nothing (FHIRPath's unknown: a comparison of dates of
    different precisions); None when fhirpathpy cannot evaluate it."""
    try:
        result = compiled(expression)(ResourceNode.create_node(node, node_type), variables)
    except Exception:  # fhirpathpy raises assorted types on data it cannot evaluate
        return None
    return result != [False] and result != []


@lru_cache(maxsize=None)
def unsupported(expression: str) -> str | None:
    """Why fhirpathpy cannot evaluate the expression (a function it lacks, a syntax it refuses), or None."""
    try:
        tree = parse(expression)
        compiled(expression)
    except Exception as error:
        return f"not parsed by fhirpathpy ({error})"
    functions, variables = set(), set()
    _names(tree, functions, variables)
    missing = sorted(functions - set(invocation_registry) - set(_FUNCTIONS))
    if missing:
        return f"{', '.join(f'{name}()' for name in missing)} not in fhirpathpy"
    if variables - VARIABLES:
        return f"%{', %'.join(sorted(variables - VARIABLES))} not set"
    return None


def _names(node: dict, functions: set[str], variables: set[str]) -> None:
    """The functions and environment variables a parsed expression uses."""
    if node.get("type") == "FunctionInvocation":
        functions.add(node["children"][0]["children"][0]["text"])
    elif node.get("type") == "ExternalConstantTerm":
        variables.add(node["children"][0]["children"][0]["text"].strip("`"))
    for child in node.get("children") or ():
        if isinstance(child, dict):
            _names(child, functions, variables)


def view(value: object, memo: dict[int, object]) -> object:
    """`value` as FHIRPath sees it: a primitive with a value without its `_x` companion (a repetition
    without a value keeps its companion's entry). Shared parts are returned as they are; `memo` maps the
    id of every dict and list seen to its view, so each part is converted once per resource."""
    if not isinstance(value, (dict, list)):
        return value
    key = id(value)
    if key in memo:
        return memo[key]
    result = value
    if isinstance(value, dict):
        converted = {}
        for name, item in value.items():
            if name.startswith("_") and name[1:] in value:
                continue
            companion = value.get(f"_{name}")
            if isinstance(item, list) and isinstance(companion, list):
                converted[name] = [view(v if v is not None else c, memo) for v, c in zip_longest(item, companion)]
            else:
                converted[name] = view(item, memo)
        if len(converted) != len(value) or any(converted[n] is not value[n] for n in converted):
            result = converted
    else:
        converted_list = [view(item, memo) for item in value]
        if any(new is not old for new, old in zip(converted_list, value)):
            result = converted_list
    memo[key] = result
    return result
