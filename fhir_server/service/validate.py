"""The $validate operation (type and instance level), answering an OperationOutcome: the resource against
R4, then against the profiles named by `profile` (query or Parameters) and those of ours it claims in
`meta.profile`."""
from __future__ import annotations

from validation import validate_resource

from ..errors import BadRequest, operation_outcome
from .checks import check_id, check_type
from .profiles import claimed, profile_issues
from .resources import ResourceService

MODES = ("create", "update", "delete")


def validate_operation(service: ResourceService, resource_type: str, body: object,
                       resource_id: str | None = None, mode: str | None = None,
                       profiles: list[str] | None = None) -> dict:
    """Validates `body` (a resource or a Parameters with `resource`), or the stored instance when no body."""
    check_type(resource_type, "read")
    profiles = list(profiles or [])
    if body is not None and isinstance(body, dict) and body.get("resourceType") == "Parameters":
        body, mode = _from_parameters(body, mode, profiles)
    if mode is not None and mode not in MODES:
        raise BadRequest(f"$validate mode must be one of {', '.join(MODES)}, not '{mode}'")
    if resource_id is not None:
        check_id(resource_id)
        if body is None or mode == "delete":
            stored = service.read(resource_type, resource_id)
            body = body if body is not None else service.full_resource(stored)
    if mode == "delete":
        return _outcome([])
    if body is None:
        raise BadRequest("$validate needs a resource in the body (or a Parameters with a 'resource' parameter)")
    found = validate_resource(body, resource_type)
    if isinstance(body, dict) and body.get("resourceType") == resource_type:
        found += profile_issues(body, profiles + claimed(body))
    issues = [i.as_outcome_issue() for i in found]
    if resource_id is not None and isinstance(body, dict) and body.get("id") not in (None, resource_id):
        issues.append({"severity": "error", "code": "invalid", "expression": [f"{resource_type}.id"],
                       "diagnostics": f"id {body.get('id')!r} differs from the instance validated ({resource_id})"})
    if mode == "update" and isinstance(body, dict) and not body.get("id"):
        issues.append({"severity": "error", "code": "required", "expression": [f"{resource_type}.id"],
                       "diagnostics": "An update needs the resource's id"})
    return _outcome(issues)


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


def _outcome(issues: list[dict]) -> dict:
    if not issues:
        issues = [{"severity": "information", "code": "informational", "diagnostics": "No problems found"}]
    return operation_outcome(issues)
