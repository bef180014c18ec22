"""Layer 5: every invariant R4 defines for the resource and its datatypes, from the StructureDefinitions.

The resource is walked along its definitions (`elements.py`): at each element (each repetition), the
invariants of its ElementDefinition, its type and its type's profile are evaluated with the element as
context (`%resource` the resource holding it, `%rootResource` the container of a contained resource), and
a failed one is reported with its key and severity at the element's path. Nested resources (contained,
`Bundle.entry.resource`, `Parameters.parameter.resource`) are walked as resources of their own.

Expressions are evaluated by fhirpathpy (`fhirpath.py`), except the invariants of every element, extension,
resource, reference and Bundle entry, evaluated in Python (`native.py`), dom-3 (below: its R4 expression
applies `as()` to collections, which fhirpathpy refuses), and txt-1/txt-2 (rules.py, on the parsed XHTML). Expressions
fhirpathpy cannot evaluate are skipped (`unsupported_invariants()`), and so is an evaluation that fails on
the data: no issue, never a false one.

Also checked here, since they need the walk: Element.id unique within a resource (the HL7 validator refuses
duplicates; a resource's own id is not an element id), the Bundle rules and conditional references of
`bundles.py`, the codes of the code systems FHIR defines and required bindings without a code
(`terminology.py`, by the types of the walk), and the R4 vital-signs profiles on Observations
(`vital_signs.py`).
"""
from __future__ import annotations

import re

from . import fhirpath
from .bundles import bundle_issues, conditional_reference_issues
from .elements import PRIMITIVE, RESOURCE, Child, Constraint, all_constraints, children, root_constraints
from .issues import Issue
from .native import NATIVE, Check
from .paths import element_path
from .terminology import coding_issues, missing_code_issue
from .vital_signs import vital_signs_issues

IN_RULES = frozenset({"txt-1", "txt-2"})  # checked on the parsed XHTML by rules.py
_WALKED = frozenset({"dom-3"})  # evaluated once the resource has been walked
_NOT_BY_FHIRPATHPY = NATIVE.keys() | IN_RULES | _WALKED
# A StructureDefinition's snapshot and differential repeat the same element ids: each has its own (as in
# the HL7 validator, which works around this known issue of the spec).
_OWN_ID_SCOPES = frozenset({"StructureDefinition.snapshot", "StructureDefinition.differential"})
_NARRATIVE_LINK = re.compile(r"""(?:href|src)\s*=\s*["']#([^"']*)["']""")


class _Plan:
    """How the invariants of one element definition are evaluated."""

    __slots__ = ("native", "evaluated", "dom_3")

    def __init__(self, constraints: tuple[Constraint, ...]) -> None:
        self.native: tuple[tuple[Constraint, Check], ...] = tuple(
            (c, NATIVE[c.key]) for c in constraints if c.key in NATIVE)
        self.evaluated = tuple(c for c in constraints if c.key not in _NOT_BY_FHIRPATHPY and c.expression
                               and fhirpath.unsupported(c.expression) is None)
        self.dom_3 = next((c for c in constraints if c.key == "dom-3"), None)


# A constraints tuple (by id: they live as long as the cached index) -> its plan.
_PLANS: dict[int, _Plan] = {}


def _plan(constraints: tuple[Constraint, ...]) -> _Plan:
    plan = _PLANS.get(id(constraints))
    if plan is None:
        plan = _PLANS[id(constraints)] = _Plan(constraints)
    return plan


def invariant_issues(resource: dict) -> list[Issue]:
    """The invariants a resource (a JSON object of a known type) fails, and its duplicate element ids."""
    walker = _Walker(resource)
    walker.resource(resource, [], None)
    return walker.issues


def unsupported_invariants() -> dict[str, str]:
    """Key -> why, for every R4 invariant that is not evaluated (fhirpathpy cannot)."""
    return {c.key: reason for c in all_constraints() if c.key not in _NOT_BY_FHIRPATHPY
            and (reason := fhirpath.unsupported(c.expression) if c.expression else "no expression")}


def _failed(constraint: Constraint, path: str, detail: str = "") -> Issue:
    message = f"'{constraint.human}'{detail} (defined in {constraint.source})"
    return Issue(constraint.severity, "invariant", path, message, key=constraint.key)


class _Scope:
    """One resource of the walk (native.Context): what its checks need once it has been walked."""

    __slots__ = ("data", "root", "location", "contained", "variables", "element_ids", "internal", "references",
                 "nested")

    def __init__(self, data: dict, location: list, container: _Scope | None, memo: dict) -> None:
        self.data = data
        self.root = container.data if container else data  # %rootResource
        self.location = location
        self.contained = container is not None
        self.variables = {"resource": memo.get(id(data), data), "rootResource": memo.get(id(self.root), self.root)}
        self.element_ids: dict[str, list] = {}
        self.internal: set[str] = set()  # the ids its '#id' references and narrative links name ('' for '#')
        self.references: list[tuple[list, str]] = []  # (location, Reference.reference), its own only
        self.nested: list[_Scope] = []

    def found(self, child: Child, value: str, location: list) -> None:
        """A value that may refer to a contained resource (dom-3) or an entry of a Bundle."""
        if child.type_code == "xhtml":
            self.internal.update(_NARRATIVE_LINK.findall(value))
        elif value.startswith("#"):
            self.internal.add(value[1:])
        if child.name == "reference":
            self.references.append((location, value))


class _Walker:
    def __init__(self, resource: dict) -> None:
        self.root = resource["resourceType"]
        self.memo: dict[int, object] = {}
        fhirpath.view(resource, self.memo)
        self.issues: list[Issue] = []

    def resource(self, data: dict, location: list, container: _Scope | None) -> _Scope | None:
        type_name = data.get("resourceType")
        if not isinstance(type_name, str) or not children(type_name):
            return None  # not a resource type: the schema reports it
        scope = _Scope(data, location, container, self.memo)
        plan = _plan(root_constraints(type_name))
        self.check(data, type_name, plan, location, scope)
        self.element(data, type_name, location, scope)
        if plan.dom_3 is not None:
            self.dom_3(scope, plan.dom_3)
        if type_name == "Bundle":
            self.issues += bundle_issues(data, location, self.root, scope.nested)
        elif type_name == "Observation":
            self.issues += vital_signs_issues(data, element_path(self.root, location))
        return scope

    def element(self, node: dict, key: str, location: list, scope: _Scope) -> None:
        """The children of a resource or complex element."""
        index = children(key)
        for name, value in node.items():
            if name.startswith("_"):
                child = index.get(name[1:])
                if child is not None and child.kind == PRIMITIVE:
                    self.companion(node, name, child, location, scope)
                continue
            child = index.get(name)
            if child is None:
                continue  # unknown: the schema reports it
            if isinstance(value, list):
                for position, item in enumerate(value):
                    self.item(item, child, [*location, name, position], scope)
            else:
                self.item(value, child, [*location, name], scope)

    def item(self, value: object, child: Child, location: list, scope: _Scope) -> None:
        if child.kind == PRIMITIVE:
            if isinstance(value, str) and child.holds_reference:
                scope.found(child, value, location)
                if "?" in value and child.name == "reference" and child.type_code == "string":
                    self.issues += conditional_reference_issues(value, element_path(self.root, location[:-1]))
            plan = _plan(child.constraints)
            if plan.evaluated and value is not None:
                self.evaluate(value, child.node_type, plan.evaluated, location, scope)
            return
        if not isinstance(value, dict) or not value:
            return  # the schema reports it
        if child.kind == RESOURCE:
            nested = self.resource(value, location, scope if location[-2] == "contained" else None)
            if nested is not None:
                scope.nested.append(nested)
            return
        self.element_id(value, location, scope)
        self.check(value, child.node_type, _plan(child.constraints), location, scope)
        if child.type_code == "Coding" and "code" in value:
            self.issues += coding_issues(value, element_path(self.root, location))
        if child.node_type in _OWN_ID_SCOPES:
            outer, scope.element_ids = scope.element_ids, {}
            self.element(value, child.node_type, location, scope)
            scope.element_ids = outer
        else:
            self.element(value, child.node_type, location, scope)

    def companion(self, node: dict, name: str, child: Child, location: list, scope: _Scope) -> None:
        """A primitive's `_x` companion (its id and extensions): ele-1 when it holds only an id and the
        primitive has no value."""
        value, primitive = node[name], node.get(name[1:])
        repeated = isinstance(value, list)
        ele_1 = next((c for c, _ in _plan(child.constraints).native if c.key == "ele-1"), None)
        for position, entry in enumerate(value if repeated else [value]):
            if not isinstance(entry, dict) or not entry:
                continue
            here = [*location, name, position] if repeated else [*location, name]
            if repeated:
                has_value = (isinstance(primitive, list) and position < len(primitive)
                             and primitive[position] is not None)
            else:
                has_value = primitive is not None
            if ele_1 is not None and not has_value and entry.keys() <= {"id"}:
                self.issues.append(_failed(ele_1, element_path(self.root, here)))
            elif child.required_binding and not has_value:
                self.issues.append(missing_code_issue(element_path(self.root, here)))
            self.element_id(entry, here, scope)
            self.element(entry, child.type_code, here, scope)

    def check(self, value: dict, node_type: str, plan: _Plan, location: list, scope: _Scope) -> None:
        for constraint, holds in plan.native:
            if not holds(value, scope):
                self.issues.append(_failed(constraint, element_path(self.root, location)))
        self.evaluate(value, node_type, plan.evaluated, location, scope)

    def evaluate(self, value: object, node_type: str, constraints: tuple[Constraint, ...], location: list,
                 scope: _Scope) -> None:
        node = self.memo.get(id(value), value)
        for constraint in constraints:
            if fhirpath.holds(constraint.expression, node, node_type, scope.variables) is False:
                self.issues.append(_failed(constraint, element_path(self.root, location)))

    def element_id(self, element: dict, location: list, scope: _Scope) -> None:
        """Element ids are unique within a resource."""
        element_id = element.get("id")
        if not isinstance(element_id, str):
            return
        first = scope.element_ids.setdefault(element_id, location)
        if first is not location:
            self.issues.append(Issue("error", "business-rule", element_path(self.root, [*location, "id"]),
                                     f"Duplicate id value {element_id!r} (also the id of "
                                     f"{element_path(self.root, first)}): element ids are unique within a resource"))

    def dom_3(self, scope: _Scope, constraint: Constraint) -> None:
        """dom-3 as the HL7 validator enforces it: a contained resource is referenced ('#' + its id) from the
        resource outside its contained ones, or refers to it ('#'), or is referenced from a contained
        resource that is."""
        contained = {nested.data["id"]: nested for nested in scope.nested
                     if nested.contained and isinstance(nested.data.get("id"), str)}
        reached = {key for key, nested in contained.items() if key in scope.internal or "" in nested.internal}
        pending = list(reached)
        while pending:
            for key in contained[pending.pop()].internal & contained.keys() - reached:
                reached.add(key)
                pending.append(key)
        for key, nested in contained.items():
            if key not in reached:
                self.issues.append(_failed(constraint, element_path(self.root, nested.location),
                                           f": nothing refers to '#{key}'"))
