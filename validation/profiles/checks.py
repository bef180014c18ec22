"""The checks one differential ElementDefinition makes: cardinality, fixed and pattern values, required
bindings, FHIRPath invariants."""
from __future__ import annotations

from fhirpathpy.engine.nodes import ResourceNode

from .. import fhirpath
from ..issues import Issue
from ..corrections import corrected
from . import value_sets
from .nodes import Node, SliceTest, children, contains, nodes, steps


def element_issues(resource: dict, element: dict, in_slice: SliceTest, memo: dict | None = None) -> list[Issue]:
    """`memo`: the nodes found for each element id, shared by the elements of one profile."""
    element_id = element.get("id") or element["path"]
    memo = {} if memo is None else memo
    issues = _cardinality(resource, element, element_id, in_slice, memo)
    found = nodes(resource, element_id, in_slice, memo)
    issues += _values(element, found)
    issues += _binding(element, found)
    issues += _invariants(element, found)
    return issues


def _cardinality(resource: dict, element: dict, element_id: str, in_slice: SliceTest, memo: dict) -> list[Issue]:
    parts = steps(element_id)
    if len(parts) < 2 or ("min" not in element and "max" not in element):
        return []
    parent_id, last = ".".join(parts[:-1]), parts[-1]
    name, _, slice_name = last.partition(":")
    minimum = int(element.get("min", 0))
    maximum = element.get("max", "*")
    issues = []
    for parent in nodes(resource, parent_id, in_slice, memo):
        found = children(parent, name)
        if slice_name:
            found = [child for child in found if in_slice(element_id, child[1])]
        where = f"{parent[0]}.{name}"
        what = f"{name} (slice {slice_name})" if slice_name else name
        if len(found) < minimum:
            issues.append(Issue("error", "required", where, f"{what}: at least {minimum} required by the profile, "
                                                            f"{len(found)} found"))
        if maximum != "*" and len(found) > int(maximum):
            issues.append(Issue("error", "structure", where, f"{what}: at most {maximum} allowed by the profile, "
                                                             f"{len(found)} found"))
    return issues


def _values(element: dict, found: list[Node]) -> list[Issue]:
    issues = []
    for key, expected in element.items():
        if key.startswith("fixed"):
            issues += [Issue("error", "value", location, f"must be exactly {expected!r} (fixed by the profile)")
                       for location, value, _ in found if value != expected]
        elif key.startswith("pattern"):
            issues += [Issue("error", "value", location, f"must match the profile's pattern {expected!r}")
                       for location, value, _ in found if not contains(value, expected)]
    return issues


def _binding(element: dict, found: list[Node]) -> list[Issue]:
    binding = element.get("binding") or {}
    url = binding.get("valueSet")
    if not url or binding.get("strength") not in ("required", "extensible") or not value_sets.known(url):
        return []
    severity = "error" if binding["strength"] == "required" else "warning"
    issues = []
    for location, value, _ in found:
        codings = _codings(value)
        if codings and not any(value_sets.holds(url, system, code) for system, code in codings):
            shown = ", ".join(f"{system}|{code}" if system else str(code) for system, code in codings)
            issues.append(Issue(severity, "code-invalid", location, f"{shown} is not in the value set {url} "
                                                                    f"({binding['strength']} binding)"))
    return issues


def _codings(value: object) -> list[tuple[str | None, str | None]]:
    """The (system, code) pairs of a code, Coding or CodeableConcept."""
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, dict) and "coding" in value:
        return [(c.get("system"), c.get("code")) for c in value.get("coding") or [] if isinstance(c, dict)]
    if isinstance(value, dict) and "code" in value:
        return [(value.get("system"), value.get("code"))]
    return []


def _invariants(element: dict, found: list[Node]) -> list[Issue]:
    """Each constraint on each value, typed as R4 types it (a choice or a backbone element needs its type);
    it holds when it evaluates to true (false or nothing fails it, as for the invariants of R4)."""
    issues = []
    for constraint in element.get("constraint") or []:
        expression = corrected(constraint.get("expression") or "")
        if not expression:
            continue
        severity = "error" if constraint.get("severity", "error") == "error" else "warning"
        key, human = constraint.get("key", ""), constraint.get("human", expression)
        for location, value, node_type in found:
            try:
                result = fhirpath.compiled(expression)(ResourceNode.create_node(value, node_type), {})
            except Exception as error:  # fhirpathpy raises assorted types on data it cannot evaluate
                issues.append(Issue("error", "invariant", location, f"{key}: {human} (cannot be evaluated: {error})"))
                continue
            if result in ([False], []):  # the key goes with the issue, which words it (Issue.as_outcome_issue)
                issues.append(Issue(severity, "invariant", location, human, key=key))
    return issues
