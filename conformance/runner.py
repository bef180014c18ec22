"""Runs scenarios (JSON data in scenarios/, in the spirit of FHIR TestScript) against a server over HTTP.

A scenario: `name`, `tags`, `requires` (what the CapabilityStatement must declare, else every check is
skipped with the reason), `setup`, `actions` and `teardown` steps. A step: `name`, `request` (`method`,
`path` relative to the base, `headers`, `body` JSON or `text`, `auth`: `default`, `none`, `limited`,
`patient`, `emergency` or `representative`),
`assert` (asserts.py), `skip_if_status` (statuses that mean the credential may not do this: a skip, and in a
`sequential` scenario the steps after it are skipped too, unless the step is `optional`; `skip_reason` says why
instead, e.g. for a search form the server may refuse) and `capture` (`{"var": "location.id" | "header:ETag" |
"body:<path>" | "search:<path>"}`; `search:` takes the first value as a search parameter value, a Coding or
Identifier as `system|code`, percent-encoded; with `capture_optional`, a name that finds nothing is left unset
instead of failing the step, and a later step that `needs_captured` it is skipped). `${var}` anywhere in a
request is replaced by a captured value, `${name}` also by a `--var name=value`, `${unique}` by a fresh token
(`${uniquenum}`: 14 digits or less), `${base}` by the base.
Each action is one check; setup and teardown are not reported unless setup fails (then the actions fail).
"""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import requests

from .asserts import body_of, check
from .auth import Auth
from .capability import Declared
from .paths import values
from .results import Result, exchange

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


# The credentials a scenario step may name (`auth`), and the CLI option that gives each one.
CREDENTIALS = {"limited": "a second, limited credential (--limited-auth)",
               "patient": "a patient's credential (--patient-auth)",
               "emergency": "an emergency (break-glass) credential (--emergency-claims)",
               "representative": "a minor's legal representative's credential (--representative-auth)"}


class Context:
    def __init__(self, base: str, auth: Auth, session: requests.Session, others: dict[str, Auth] | None = None,
                 variables: dict[str, str] | None = None) -> None:
        """`others`: the credentials named in CREDENTIALS that were given."""
        self.base, self.session, self.variables = base.rstrip("/"), session, variables or {}
        self.credentials: dict[str, Auth | None] = {**(others or {}), "default": auth, "none": None}

    def send(self, request: dict, variables: dict[str, str]) -> requests.Response:
        request = _substituted(request, variables)
        credentials = self.credentials[request.get("auth", "default")]
        headers = {**(credentials.headers() if credentials else {}), **request.get("headers", {})}
        body = request.get("body")
        data = json.dumps(body) if body is not None else request.get("text")
        if body is not None:
            headers.setdefault("Content-Type", "application/fhir+json")
        headers.setdefault("Accept", "application/fhir+json")
        path = request["path"]
        url = path if path.startswith("http") else f"{self.base}/{path.lstrip('/')}" if path else self.base
        return self.session.request(request["method"], url, data=data.encode("utf-8") if data else None,
                                    headers=headers, timeout=60, allow_redirects=False)


def load(paths: list[Path] | None = None) -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in (paths or sorted(SCENARIOS.glob("*.json")))]


def run(scenario: dict, context: Context, declared: Declared) -> Iterator[Result]:
    tag = scenario["tags"][0]
    checks = [step["name"] for step in scenario["actions"]]
    missing = next((why for requirement in scenario.get("requires", [])
                    if (why := _missing(requirement, declared, context))), None)
    if missing:
        yield from (Result(tag, scenario["name"], name, "skip", missing) for name in checks)
        return
    variables = {**context.variables, "base": context.base, "unique": uuid.uuid4().hex[:16],
                 "uniquenum": str(uuid.uuid4().int % 10**14)}
    try:
        for step in scenario.get("setup", []):
            response = context.send(step["request"], variables)
            failure = _failure(step, response, variables)
            if failure:
                yield from (Result(tag, scenario["name"], name, "fail", f"setup {step['name']!r}: {failure}",
                                   exchange(response)) for name in checks)
                return
        skipped = None  # in a `sequential` scenario, the steps after a skipped one (built on it) are skipped too
        for step in scenario["actions"]:
            if skipped:
                yield Result(tag, scenario["name"], step["name"], "skip", skipped)
                continue
            uncaptured = [name for name in step.get("needs_captured", []) if name not in variables]
            if uncaptured:
                yield Result(tag, scenario["name"], step["name"], "skip",
                             f"the instance found holds no value to search by ({', '.join(uncaptured)})")
                continue
            try:
                response = context.send(step["request"], variables)
            except requests.RequestException as error:
                yield Result(tag, scenario["name"], step["name"], "fail", f"no answer: {error}")
                continue
            if response.status_code in step.get("skip_if_status", []):
                why = step.get("skip_reason", "the credential may not do this") + f" ({response.status_code})"
                skipped = why if scenario.get("sequential") and not step.get("optional") else None
                yield Result(tag, scenario["name"], step["name"], "skip", why)
                continue
            failure = _failure(step, response, variables)
            yield Result(tag, scenario["name"], step["name"], "fail" if failure else "pass", failure or "",
                         exchange(response) if failure else "")
    finally:
        for step in scenario.get("teardown", []):
            try:
                context.send(step["request"], variables)
            except (requests.RequestException, KeyError):
                pass


def _missing(requirement: dict, declared: Declared, context: Context) -> str | None:
    if (name := requirement.get("credential")) and name not in context.credentials:
        return f"needs {CREDENTIALS[name]}"
    if "variable" in requirement and requirement["variable"] not in context.variables:
        return f"needs --var {requirement['variable']}=..."
    return declared.missing(requirement)


def _failure(step: dict, response: requests.Response, variables: dict[str, str]) -> str | None:
    problems = [why for spec in _substituted(step.get("assert", []), variables) if (why := check(spec, response))]
    for name, source in step.get("capture", {}).items():
        value = _captured(source, response)
        if value is None and step.get("capture_optional"):
            variables.pop(name, None)
        elif value is None:
            problems.append(f"nothing to capture as {name} from {source}")
        else:
            variables[name] = value
    return "; ".join(problems) or None


def _captured(source: str, response: requests.Response) -> str | None:
    if source == "location.id":
        location = response.headers.get("Location") or response.headers.get("Content-Location") or ""
        match = re.search(r"/([A-Za-z0-9\-.]{1,64})/_history/", location) or re.search(r"/([A-Za-z0-9\-.]{1,64})$",
                                                                                           location)
        return match[1] if match else None
    if source.startswith("header:"):
        return response.headers.get(source[7:])
    if source.startswith("body:"):
        found = values(body_of(response), source[5:])
        return str(found[0]) if found else None
    if source.startswith("search:"):
        found = [token for value in values(body_of(response), source[7:])
                 for item in (value if isinstance(value, list) else [value]) if (token := _search_value(item))]
        return quote(found[0], safe="/:|") if found else None
    raise ValueError(f"unknown capture source {source!r}")


def _search_value(value: object) -> str | None:
    """A value as a search parameter takes it: a string or number as it is, a CodeableConcept by its first
    coding, a Coding or Identifier as `system|code` (the code alone without a system)."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, dict):
        return None
    if value.get("coding"):
        return _search_value(value["coding"][0])
    code = value.get("code", value.get("value"))
    if not isinstance(code, str):
        return None
    return f"{value['system']}|{code}" if value.get("system") else code


def _substituted(value, variables: dict[str, str]):
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: variables.get(m[1], m[0]), value)
    if isinstance(value, list):
        return [_substituted(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: _substituted(item, variables) for key, item in value.items()}
    return value
