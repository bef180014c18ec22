"""The values an ElementDefinition id designates in a resource, each with its FHIRPath-style location and
its R4 type.

An id is dot-separated (`DocumentReference.content.attachment.hash`); a step may name a slice
(`Patient.identifier:INS-NIR.value`), which keeps the repetitions the slice's discriminator selects; a
choice step (`value[x]`) matches whichever typed name the resource uses, and a typed step (`valueQuantity`,
as profiles name a choice restricted to one type) that name only. The type is the one the R4 definitions
give the JSON property (`Period`, `dateTime`, the backbone path `Observation.component`), for FHIRPath.
"""
from __future__ import annotations

from collections.abc import Callable

from ..elements import children as definition_children

# (location, value, R4 type or backbone path, None when unknown)
Node = tuple[str, object, "str | None"]
# does this repetition belong to the slice (id of the slice element)?
SliceTest = Callable[[str, object], bool]


def steps(element_id: str) -> list[str]:
    """The steps of an element id: `Patient.identifier:INS-NIR.value` -> Patient, identifier:INS-NIR, value."""
    return element_id.split(".")


def children(node: Node, step: str) -> list[Node]:
    """The repetitions of one child element (a step without slice) of a node."""
    location, value, node_type = node
    if not isinstance(value, dict):
        return []
    if step.endswith("[x]"):
        base = step[:-3]
        keys = [k for k in value if k.startswith(base) and k[len(base):len(base) + 1].isupper()]
        key = keys[0] if keys else None
    else:
        key = step if step in value else None
    if key is None:
        return []
    found = value[key]
    name = step if step.endswith("[x]") else key
    definition = definition_children(node_type).get(key) if node_type else None
    child_type = definition.node_type if definition else None
    if isinstance(found, list):
        return [(f"{location}.{name}[{i}]", item, _type(item, child_type)) for i, item in enumerate(found)]
    return [(f"{location}.{name}", found, _type(found, child_type))]


def _type(value: object, declared: str | None) -> str | None:
    """A nested resource is of its own type."""
    if declared == "Resource" and isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return value["resourceType"]
    return declared


def nodes(resource: dict, element_id: str, in_slice: SliceTest, memo: dict | None = None) -> list[Node]:
    """Every value the element designates (the root: the resource itself); `memo` keeps the nodes of each id
    prefix for the other elements of the same profile."""
    memo = {} if memo is None else memo
    found = memo.get(element_id)
    if found is not None:
        return found
    parent, _, last = element_id.rpartition(".")
    if not parent:
        found = [(element_id, resource, resource.get("resourceType"))]
    else:
        name, _, slice_name = last.partition(":")
        found = [child for node in nodes(resource, parent, in_slice, memo) for child in children(node, name)]
        if slice_name:
            found = [child for child in found if in_slice(element_id, child[1])]
    memo[element_id] = found
    return found


def contains(value: object, pattern: object) -> bool:
    """FHIR pattern matching: every element of the pattern is in the value (lists: each pattern item in
    some value item)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(contains(value.get(k), v) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(contains(item, p) for item in value) for p in pattern)
    return value == pattern


def values_at(value: object, path: str) -> list:
    """The values a dotted path (`coding.code`) leads to from a value, repetitions flattened."""
    current = [value]
    for step in path.split("."):
        found = []
        for item in current:
            if isinstance(item, dict) and step in item:
                child = item[step]
                found.extend(child if isinstance(child, list) else [child])
        current = found
    return current
