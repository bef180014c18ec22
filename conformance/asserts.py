"""One assertion of a scenario step against a response: None when it holds, else why not."""
from __future__ import annotations

import json

import requests

from .paths import values


def body_of(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def outcome_text(response: requests.Response) -> str:
    """What the server said in an OperationOutcome answer ("" when the body is none): each issue's severity,
    code, text (details.text, else diagnostics) and where (expression, else location)."""
    body = body_of(response)
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    said = []
    for issue in body.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        text = (issue.get("details") or {}).get("text") or issue.get("diagnostics") or ""
        where = ", ".join(str(path) for path in issue.get("expression") or issue.get("location") or [])
        said.append(f"{issue.get('severity', '?')} {issue.get('code', '?')}" + (f": {text}" if text else "")
                    + (f" ({where})" if where else ""))
    return "; ".join(said)[:500]


def check(spec: dict, response: requests.Response) -> str | None:
    """`status` (a code or list), `status_below`, `header` (+ `exists`/`contains`/`equals`), `path` (+ `equals`,
    `exists`, `contains`, `excludes`, `count`, `min_count`,
    `all_equal`), `outcome` (an OperationOutcome with an issue),
    `body_contains` (text)."""
    if "status" in spec:
        wanted = spec["status"] if isinstance(spec["status"], list) else [spec["status"]]
        return None if response.status_code in wanted else f"status {response.status_code}, expected {wanted}"
    if "status_below" in spec:
        limit = spec["status_below"]
        return None if response.status_code < limit else f"status {response.status_code}, expected below {limit}"
    if "header" in spec:
        return _header(spec, response.headers.get(spec["header"]))
    if "outcome" in spec:
        body = body_of(response)
        ok = isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" and body.get("issue")
        return None if ok else "the body is not an OperationOutcome with an issue"
    if "body_contains" in spec:
        return None if spec["body_contains"] in response.text else f"the body does not contain {spec['body_contains']!r}"
    if "path" in spec:
        return _path(spec, body_of(response))
    raise ValueError(f"unknown assertion {json.dumps(spec)}")


def _header(spec: dict, value: str | None) -> str | None:
    name = spec["header"]
    if spec.get("exists", True) is False:
        return None if value is None else f"header {name} is present ({value!r})"
    if value is None:
        return f"header {name} is missing"
    if "contains" in spec and spec["contains"].lower() not in value.lower():
        return f"header {name} is {value!r}, expected it to contain {spec['contains']!r}"
    if "equals" in spec and value != spec["equals"]:
        return f"header {name} is {value!r}, expected {spec['equals']!r}"
    return None


def _path(spec: dict, body: object) -> str | None:
    path = spec["path"]
    found = [item for value in values(body, path) for item in (value if isinstance(value, list) else [value])]
    if "exists" in spec:
        return None if bool(found) == spec["exists"] else f"{path}: {'nothing' if not found else found!r} found"
    if "count" in spec:
        return None if len(found) == spec["count"] else f"{path}: {len(found)} values, expected {spec['count']}"
    if "min_count" in spec:
        wanted = spec["min_count"]
        return None if len(found) >= wanted else f"{path}: {len(found)} values, expected at least {wanted}"
    if "equals" in spec:
        return None if found[:1] == [spec["equals"]] else f"{path} is {found[:1]!r}, expected {spec['equals']!r}"
    if "all_equal" in spec:
        wrong = [value for value in found if value != spec["all_equal"]]
        return None if not wrong else f"{path}: {wrong[:3]!r} differ from {spec['all_equal']!r}"
    if "excludes" in spec:
        return None if spec["excludes"] not in found else f"{path}: {spec['excludes']!r} found"
    if "contains" in spec:
        wanted = spec["contains"]
        ok = any(wanted == value or (isinstance(value, str) and isinstance(wanted, str) and wanted in value)
                 for value in found)
        return None if ok else f"{path}: {found[:5]!r} holds no {wanted!r}"
    raise ValueError(f"unknown path assertion {json.dumps(spec)}")
