"""SearchParameter expressions compiled once into plain Python functions over the resource dict.

`Extractor(expression)(resource)` answers exactly what fhirpathpy's `compile(expression, models["r4"])(resource)`
answers for JSON data, about ten times faster. The compiled subset covers the forms the indexed SearchParameters
of the searchable types use (tests/search/test_extractors.py holds each of them to fhirpathpy):
- member paths through lists (`Patient.name.given`), a primitive's `_element` extension holder included, and
  choice types (`Patient.deceased` is `deceasedBoolean` or `deceasedDateTime`, first in the model's order);
- `X as type` (a choice narrowed to one type), `X.extension('url')`, `X.where(<test>)`, `X.exists()`;
- `X = 'text'`, `X != false` (string and boolean literals) and `A and B` (three-valued).
The expression is parsed by fhirpathpy; any other form raises `Unsupported` at compile time and the Extractor
evaluates it with fhirpathpy. At run time, data outside the compiled path's assumptions (a nested dict with a
`resourceType`, which fhirpathpy types by it; an `as` or `and` operand of several items; a malformed
`extension` list) makes that one evaluation go to fhirpathpy too, which then answers (or raises) as before.
Results are fhirpathpy's output form: floats as Decimal, `{"extension": [...]}`-only items left out.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cached_property

from fhirpathpy import compile as compile_fhirpath
from fhirpathpy.engine.evaluators import evaluators
from fhirpathpy.models import models
from fhirpathpy.parser import parse

_MODEL = models["r4"]
_SYSTEM = re.compile(r"^System\.(.*)$")

Step = Callable[[list], list]
# A compiled (sub)expression: the step from its input collection to its items, and the type paths the items
# may have (fhirpathpy's ResourceNode.path; several after a choice), or None for plain values (booleans).
Compiled = tuple[Step, tuple[str, ...] | None]


class Unsupported(Exception):
    """An expression outside the compiled subset."""


class _Irregular(Exception):
    """Data on which the compiled function does not follow fhirpathpy: fhirpathpy evaluates it."""


class Extractor:
    """A FHIRPath expression evaluated on a resource dict: compiled when it can be, else by fhirpathpy."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        try:
            self._step: Step | None = _compile(parse(expression), None)[0]
        except Unsupported:
            self._step = None

    @property
    def compiled(self) -> bool:
        return self._step is not None

    @cached_property
    def _fhirpathpy(self) -> Callable[[dict], list]:
        return compile_fhirpath(self.expression, _MODEL)

    def __call__(self, resource: dict) -> list:
        if self._step is not None and isinstance(resource, dict):
            try:
                return [item for item in map(_top_level, self._step([resource])) if not _extension_only(item)]
            except _Irregular:
                pass
        return self._fhirpathpy(resource)


# fhirpathpy's output conversion (apply_parsed_path's visit), copying only what it changes.

def _visited(value: object) -> object:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        copy = None
        for key, item in value.items():
            changed = _visited(item)
            if changed is not item:
                copy = copy if copy is not None else dict(value)
                copy[key] = changed
        return value if copy is None else copy
    if isinstance(value, list):
        kept = [v for v in map(_visited, value) if not _extension_only(v)]
        same = len(kept) == len(value) and all(a is b for a, b in zip(kept, value))
        return value if same else kept
    return value


def _top_level(value: object) -> object:
    """A result item as fhirpathpy outputs it: a list item (nested JSON list) is returned as it is."""
    return value if isinstance(value, list) else _visited(value)


def _extension_only(value: object) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "extension" in value


# Compilation, one function per parse-tree node type (fhirpathpy.engine.evaluators names them).

def _compile(node: dict, context: tuple[str, ...] | None) -> Compiled:
    """`node` compiled for an input collection whose items have the type paths `context` (None: the root,
    `[resource]`)."""
    kind = node.get("type")
    if kind in (None, "TermExpression", "ParenthesizedTerm", "InvocationTerm") and len(node["children"]) == 1:
        return _compile(node["children"][0], context)
    if kind == "MemberInvocation":
        key = _identifier(node)
        return _root(key) if context is None else _member(_identity(context), key)
    if kind == "FunctionInvocation":
        return _function(_identity(context), node)
    if kind == "InvocationExpression" and len(node["children"]) == 2:
        left, right = node["children"]
        source = _compile(left, context)
        if right["type"] == "MemberInvocation":
            return _member(source, _identifier(right))
        if right["type"] == "FunctionInvocation":
            return _function(source, right)
    if kind == "TypeExpression" and node["terminalNodeText"] == ["as"]:
        return _as(node["children"][0], _type_specifier(node["children"][1]), context)
    if kind == "EqualityExpression" and node["terminalNodeText"][0] in ("=", "!="):
        return _equality(_compile(node["children"][0], context), node["terminalNodeText"][0],
                         _literal(node["children"][1]))
    if kind == "AndExpression":
        return _and(_compile(node["children"][0], context), _compile(node["children"][1], context))
    raise Unsupported(kind)


def _identity(context: tuple[str, ...] | None) -> Compiled:
    if context is None:
        raise Unsupported("a function or element of the root collection")
    return (lambda items: items), context


def _identifier(node: dict) -> str:
    return evaluators["Identifier"](None, None, node["children"][0])[0].replace("`", "")


def _literal(node: dict) -> object:
    while node.get("type") in ("TermExpression", "LiteralTerm") and node.get("children"):
        node = node["children"][0]
    if node.get("type") not in ("StringLiteral", "BooleanLiteral"):
        raise Unsupported(f"literal {node.get('type')}")
    return evaluators[node["type"]](None, None, node)[0]


def _type_specifier(node: dict) -> tuple[str | None, str]:
    names = node["text"].replace("`", "").split(".")
    if len(names) > 2:
        raise Unsupported(node["text"])
    return (None, names[0]) if len(names) == 1 else (names[0], names[1])


def _root(key: str) -> Compiled:
    """`Patient` at the start of an expression: the resource if it is one."""
    if not key[:1].isupper():
        raise Unsupported(f"root element {key}")

    def step(items: list) -> list:
        resource = items[0]
        if "resourceType" not in resource:
            raise _Irregular
        return items if resource["resourceType"] == key else []
    return step, (key,)


def _child_path(parent: str, key: str) -> tuple[str, tuple[str, ...]]:
    """The model path of `parent.key` and its choice types (empty when it is not a choice)."""
    path = f"{parent}.{key}"
    path = _MODEL["pathsDefinedElsewhere"].get(path, path)
    return path, tuple(_MODEL["choiceTypePaths"].get(path) or ())


def _member(source: Compiled, key: str) -> Compiled:
    step, paths = source
    if paths is None or len(paths) != 1 or key == "length":
        raise Unsupported(f"element {key} of {paths}")
    path, choices = _child_path(paths[0], key)
    if choices:
        fields = tuple((f"{key}{t}", f"_{key}{t}") for t in choices)
        return _choice_step(step, fields), tuple(_MODEL["path2Type"].get(path + t, path + t) for t in choices)
    path = "Extension" if key == "extension" else path
    return _member_step(step, key, f"_{key}"), (_MODEL["path2Type"].get(path, path),)


def _add(found: list, value: object) -> None:
    """fhirpathpy adds an element's value (each item of a list) unless it is absent or an empty list; a dict
    with a `resourceType` would be typed by it, which the compiled paths do not follow."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and "resourceType" in item:
                raise _Irregular
        found += value
    elif value is not None:
        if isinstance(value, dict) and "resourceType" in value:
            raise _Irregular
        found.append(value)


def _member_step(source: Step, key: str, extension_key: str) -> Step:
    def step(items: list) -> list:
        found: list = []
        for item in source(items):
            if isinstance(item, dict):
                _add(found, item.get(key))
                _add(found, item.get(extension_key))
            elif isinstance(item, Mapping):
                raise _Irregular
        return found
    return step


def _choice_step(source: Step, fields: tuple[tuple[str, str], ...], keep: tuple[bool, ...] | None = None) -> Step:
    """The first of a choice's `value[x]` fields present (value or `_value`); with `keep`, only the values of
    the choice types it flags."""
    def step(items: list) -> list:
        found: list = []
        for item in source(items):
            if isinstance(item, dict):
                for i, (name, extension_name) in enumerate(fields):
                    value, extension = item.get(name), item.get(extension_name)
                    if value is not None or extension is not None:
                        if keep is None or keep[i]:
                            _add(found, value)
                            _add(found, extension)
                        else:
                            _add_dropped(found, value)
                            _add_dropped(found, extension)
                        break
            elif isinstance(item, Mapping):
                raise _Irregular
        return found
    return step


_DROPPED = object()  # a value `as` leaves out, counted for its singleton rule


def _add_dropped(found: list, value: object) -> None:
    if isinstance(value, list) or isinstance(value, dict) and "resourceType" in value:
        raise _Irregular  # items counted otherwise, or a type fhirpathpy would take from `resourceType`
    if value is not None:
        found.append(_DROPPED)


def _type_name(path: str) -> tuple[str, str]:
    """fhirpathpy's TypeInfo of a node with this path (once `as` has set the model): namespace and name."""
    system = _SYSTEM.match(path)
    if system:
        return "System", system.group(1)
    return "FHIR", path if "." not in path else "BackboneElement"


def _is_type(path: str, specifier: tuple[str | None, str]) -> bool:
    namespace, name = _type_name(path)
    if specifier[0] and specifier[0] != namespace:
        return False
    if namespace != "FHIR":
        return name == specifier[1]
    seen = set()
    while name and name not in seen:
        if name == specifier[1]:
            return True
        seen.add(name)
        name = _MODEL["type2Parent"].get(name) or _MODEL["path2Type"].get(name)
    return False


def _as(node: dict, specifier: tuple[str | None, str], context: tuple[str, ...] | None) -> Compiled:
    """`X as T`: X's single item if it is a T, nothing if X is empty or not a T (several items: fhirpathpy
    raises). A choice element is narrowed per choice type, the value's type being the one present."""
    if node.get("type") == "InvocationExpression" and node["children"][1]["type"] == "MemberInvocation":
        parent_step, parent_paths = _compile(node["children"][0], context)
        key = _identifier(node["children"][1])
        if parent_paths is not None and len(parent_paths) == 1:
            path, choices = _child_path(parent_paths[0], key)
            if choices:
                fields = tuple((f"{key}{t}", f"_{key}{t}") for t in choices)
                typed = tuple(_MODEL["path2Type"].get(path + t, path + t) for t in choices)
                keep = tuple(_is_type(typed_path, specifier) for typed_path in typed)
                return (_singleton_as(_choice_step(parent_step, fields, keep)),
                        tuple(p for p, kept in zip(typed, keep) if kept))
    step, paths = _compile(node, context)
    if paths is None or len(paths) != 1:
        raise Unsupported("as on plain values or a collection of several types")
    return _singleton_as(step if _is_type(paths[0], specifier) else _dropping(step)), paths


def _dropping(source: Step) -> Step:
    return lambda items: [_DROPPED for _ in source(items)]


def _singleton_as(source: Step) -> Step:
    def step(items: list) -> list:
        found = source(items)
        if len(found) > 1:
            raise _Irregular
        return [] if not found or found[0] is _DROPPED else found
    return step


def _function(source: Compiled, node: dict) -> Compiled:
    functn = node["children"][0]
    name = evaluators["Identifier"](None, None, functn["children"][0])[0]
    params = functn["children"][1]["children"] if len(functn["children"]) > 1 else []
    step, paths = source
    if name == "exists" and not params:
        return (lambda items: [len(step(items)) > 0]), None
    if name == "where" and len(params) == 1 and paths is not None:
        test, kind = _compile(params[0], paths)
        if kind is not None:
            raise Unsupported("where() whose test is not a boolean")
        return _where(step, test), paths
    if name == "extension" and len(params) == 1:
        url = _literal(params[0])
        if not isinstance(url, str):
            raise Unsupported("extension() of a non-string")
        return _extension(step, url), ("Extension",)
    raise Unsupported(f"function {name}")


def _where(source: Step, test: Step) -> Step:
    def step(items: list) -> list:
        kept = []
        for item in source(items):
            result = test([item])
            if result and result[0]:
                kept.append(item)
        return kept
    return step


def _extension(source: Step, url: str) -> Step:
    """`extension(url)`: each item's first extension with that url; fhirpathpy raises on an extension list
    that is not a list of objects with a url."""
    def step(items: list) -> list:
        found = []
        for item in source(items):
            if isinstance(item, dict):
                extensions = item.get("extension", [])
                if not isinstance(extensions, list):
                    raise _Irregular
                first = None
                for extension in extensions:
                    if not isinstance(extension, dict) or "url" not in extension:
                        raise _Irregular
                    if first is None and extension["url"] == url:
                        first = extension
                if first is not None:
                    _add(found, first)
            elif isinstance(item, Mapping):
                raise _Irregular
        return found
    return step


def _equality(source: Compiled, operator: str, literal: object) -> Compiled:
    """`X = literal`, `X != literal`: empty when X is; a collection of several items equals no literal."""
    step, paths = source
    if paths is not None and any(_type_name(path)[1] == "Quantity" for path in paths):
        raise Unsupported("equality on a Quantity")  # fhirpathpy compares those as UCUM quantities
    equal = operator == "="

    def compare(items: list) -> list:
        found = step(items)
        if not found:
            return []
        return [bool(len(found) == 1 and found[0] == literal) is equal]
    return compare, None


def _boolean(source: Step) -> Callable[[list], bool | list]:
    """An `and` operand: its single boolean, or [] when it is empty (anything else: fhirpathpy raises)."""
    def operand(items: list) -> bool | list:
        found = source(items)
        if not found:
            return []
        if len(found) > 1 or not (found[0] is True or found[0] is False):
            raise _Irregular
        return found[0]
    return operand


def _and(left: Compiled, right: Compiled) -> Compiled:
    """Three-valued `and`: false if either side is false, empty if either is empty, else true."""
    a, b = _boolean(left[0]), _boolean(right[0])

    def step(items: list) -> list:
        x, y = a(items), b(items)
        if x is False or y is False:
            return [False]
        return [] if x == [] or y == [] else [True]
    return step, None
