"""The $validate operation (system, type and instance level), answering an OperationOutcome: the resource
against R4, then against the profiles named by `profile` (query or Parameters) and those of ours it claims in
`meta.profile`.

A body is validated whatever its type: any of the R4 resource types, stored here or not (at system level the
type is the resource's own); nothing is read or written for it. Only the instance level reads a stored
resource, of the types this server stores. `resource_issues` and `outcome` are pure: the `fhir-validate`
command (validate_cli.py) gives the same answer as the server for a file.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from validation import Issue, validate_resource
from validation.schema import resource_types

from ..errors import BadRequest, operation_outcome
from ..registry import is_r4_resource_type
from .checks import check_id, check_type
from .profiles import claimed, profile_issues

if TYPE_CHECKING:
    from .resources import ResourceService

MODES = ("create", "update", "delete")


def validate_operation(service: ResourceService, resource_type: str | None, body: object,
                       resource_id: str | None = None, mode: str | None = None,
                       profiles: list[str] | None = None) -> dict:
    """Validates `body` (a resource or a Parameters with `resource`), or the stored instance when no body.
    `resource_type` None: the system level, where the type is the resource's own."""
    check_validated_type(resource_type, resource_id)
    profiles = list(profiles or [])
    if isinstance(body, dict) and body.get("resourceType") == "Parameters" and (
            resource_type != "Parameters" or _names(body) & {"resource", "mode", "profile"}):
        body, mode = _from_parameters(body, mode, profiles)
    if mode is not None and mode not in MODES:
        raise BadRequest(f"$validate mode must be one of {', '.join(MODES)}, not '{mode}'")
    if resource_id is not None:
        check_id(resource_id)
        if body is None or mode == "delete":
            stored = service.read(resource_type, resource_id)
            body = body if body is not None else service.full_resource(stored)
    if mode == "delete":
        return outcome([])
    if body is None:
        raise BadRequest("$validate needs a resource in the body (or a Parameters with a 'resource' parameter)")
    lenient = mode in ("create", "update")  # as the write would judge it; otherwise as the official validator
    issues = [outcome_issue(i) for i in resource_issues(body, resource_type, profiles, lenient)]
    shown = resource_type or (body.get("resourceType") if isinstance(body, dict) else None) or "Resource"
    if resource_id is not None and isinstance(body, dict) and body.get("id") not in (None, resource_id):
        issues.append(_issue("invalid", f"{shown}.id",
                             f"id {body.get('id')!r} differs from the instance validated ({resource_id})"))
    if mode == "update" and isinstance(body, dict) and not body.get("id"):
        issues.append(_issue("required", f"{shown}.id", "An update needs the resource's id"))
    return outcome(issues)


def check_validated_type(resource_type: str | None, resource_id: str | None) -> None:
    """404 (not-supported) for a type that is not an R4 resource type, and at the instance level for a type
    this server does not store."""
    if resource_id is not None or (resource_type is not None and not is_r4_resource_type(resource_type)):
        check_type(resource_type or "", "read")


def resource_issues(resource: object, expected_type: str | None = None,
                    profiles: Iterable[str] = (), lenient: bool = False) -> list[Issue]:
    """What R4 finds in `resource` (of `expected_type` when given), then each profile of `profiles` and each
    of ours it claims in `meta.profile` (an unknown profile: a `not-found` issue). `lenient`: the errors a
    write tolerates are warnings (`validate_resource`)."""
    found = validate_resource(resource, expected_type, invariants=True, lenient=lenient)
    if isinstance(resource, dict) and resource.get("resourceType") in resource_types() and (
            expected_type is None or resource["resourceType"] == expected_type):
        found += profile_issues(resource, list(profiles) + claimed(resource))
    return found


def outcome_issue(issue: Issue) -> dict:
    """An OperationOutcome.issue: severity, code, diagnostics, and the element's FHIRPath both as
    `expression` and as `location` (R4 deprecates `location` but validators such as HAPI's fill both)."""
    entry = issue.as_outcome_issue()
    if entry.get("expression"):
        entry["location"] = list(entry["expression"])
    return entry


def outcome(issues: list[dict]) -> dict:
    """The OperationOutcome of `issues`; one information issue when there is none, as R4 requires one."""
    if not issues:
        issues = [{"severity": "information", "code": "informational", "diagnostics": "No problems found"}]
    return operation_outcome(issues)


def _issue(code: str, path: str, message: str) -> dict:
    return {"severity": "error", "code": code, "diagnostics": message, "expression": [path], "location": [path]}


def _names(parameters: dict) -> set[str]:
    return {p.get("name") for p in parameters.get("parameter") or [] if isinstance(p, dict)}


def _from_parameters(parameters: dict, mode: str | None, profiles: list[str]) -> tuple[object, str | None]:
    """The resource and mode of a Parameters body; its `profile` values are added to `profiles`."""
    resource = None
    for parameter in parameters.get("parameter") or []:
        if not isinstance(parameter, dict):
            continue
        if parameter.get("name") == "resource":
            resource = parameter.get("resource")
        elif parameter.get("name") == "mode":
            mode = parameter.get("valueCode", mode)
        elif parameter.get("name") == "profile":
            value = parameter.get("valueUri") or parameter.get("valueCanonical")
            if not isinstance(value, str) or not value:
                raise BadRequest("$validate's profile parameter takes a valueUri or valueCanonical")
            profiles.append(value)
    return resource, mode
