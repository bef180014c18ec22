"""Runs scenarios (JSON data in scenarios/, in the spirit of FHIR TestScript) against a server over HTTP.

A scenario: `name`, `tags`, `rule` (what its checks test, unless a step names its own), `requires` (what the
CapabilityStatement must declare, else every check is skipped with the reason), `variables` (set before the
first step), `uuids` (variables each holding a fresh `urn:uuid:`), `encoded` (variables holding a template of messages/, its variables set, in base64: a CDA document
carried in an HL7 v2 message), `setup`, `actions` and `teardown` steps. A step: `name`, `rule` (the FHIR R4 page and section, IHE
or ANS specification it checks), `requires` (as a scenario's, for this check alone), `request` (`method`, `path`
relative to the base, `headers`, `body` JSON, `text` or `file` (a template of messages/), `auth`: `default`, `none`, `limited`, `patient`,
`emergency` or `representative`), `assert` (asserts.py), `skip_if_status` (statuses that mean the credential may
not do this: a skip, and in a `sequential` scenario the steps after it are skipped too, unless the step is
`optional`; `skip_reason` says why instead, e.g. for a search form the server may refuse), `capture`
(`{"var": "location.id" | "header:ETag" | "body:<path>" | "search:<path>"}`; `search:` takes the first value as
a search parameter value, a Coding or Identifier as `system|code`, percent-encoded; with `capture_optional`, a
name that finds nothing is left unset instead of failing the step, and a later step that `needs_captured` it is
skipped), `depends_on` (names of earlier steps that must have passed) and `prune_on_refusal` (variables holding
ids of resources the server cannot make: a refused create is sent again without the references to them).
`${var}` anywhere in a request is replaced by a captured value, `${name}` also by a `--var name=value`,
`${unique}` by a fresh token (`${uniquenum}`: 14 digits, the first not 0, an OID arc), `${base}` by the base.

Each action is one check. A step that fails is one failure, quoting the server's OperationOutcome; what it
would have captured is then missing, and every later step using it is skipped with that failure as the reason
(a fixture refused by the server costs one failure, not one per check built on it). A setup step that fails is
reported the same way, as one failure, and the actions are skipped. Teardown is not reported, and runs after a
failure too, except the steps that would delete what was never made.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import requests

from .asserts import body_of, check, outcome_text
from .auth import Auth
from .capability import Declared
from .paths import values
from .results import Result, exchange

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
MESSAGES = Path(__file__).resolve().parent / "messages"
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
        if "file" in request:
            request = {**request, "text": message(request["file"])}
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


def message(name: str) -> str:
    """A message template of messages/ (an HL7 v2 one with its segments ended by carriage returns)."""
    text = (MESSAGES / name).read_text(encoding="utf-8")
    return "\r".join(text.splitlines()) if name.endswith(".hl7") else text


def load(paths: list[Path] | None = None) -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in (paths or sorted(SCENARIOS.glob("*.json")))]


def run(scenario: dict, context: Context, declared: Declared) -> Iterator[Result]:
    tag, rule = scenario["tags"][0], scenario.get("rule", "")

    def result(step: dict, status: str, reason: str = "", response: requests.Response | None = None) -> Result:
        answer = exchange(response) if response is not None else ""
        return Result(tag, scenario["name"], step["name"], status, reason, answer, step.get("rule", rule))

    missing = next((why for requirement in scenario.get("requires", [])
                    if (why := _missing(requirement, declared, context))), None)
    if missing:
        yield from (result(step, "skip", missing) for step in scenario["actions"])
        return
    variables = {**context.variables, "base": context.base, "unique": uuid.uuid4().hex[:16],
                 "uniquenum": str(10**13 + uuid.uuid4().int % (9 * 10**13))}
    variables.update({name: f"urn:uuid:{uuid.uuid4()}" for name in scenario.get("uuids", [])})
    variables.update(_substituted(scenario.get("variables", {}), variables))
    variables.update({name: base64.b64encode(_substituted(message(file), variables).encode("utf-8")).decode("ascii")
                      for name, file in scenario.get("encoded", {}).items()})
    unavailable: dict[str, str] = {}  # a variable no step could set -> why (the root cause, for what needs it)
    try:
        for step in scenario.get("setup", []):
            response, failure = _sent(step, context, variables)
            if failure:  # one failure, with the server's answer; the checks that need it are skipped
                yield result({**step, "name": f"setup: {step['name']}"}, "fail", failure, response)
                why = f"not run: setup {step['name']!r} failed: {failure}"
                yield from (result(action, "skip", why) for action in scenario["actions"])
                return
        skipped = None  # in a `sequential` scenario, the steps after a skipped one (built on it) are skipped too
        outcomes: dict[str, str] = {}  # step name -> pass | fail | skip
        for step in scenario["actions"]:
            why = skipped or _not_runnable(step, declared, context, variables, unavailable, outcomes)
            if why:
                outcomes[step["name"]] = "skip"
                _lost(step, f"{step['name']!r} was skipped ({why})", unavailable)
                yield result(step, "skip", why)
                continue
            for name in step.get("capture", {}):
                variables.pop(name, None)  # set again by this step, or known to be missing
            response, failure = _sent(step, context, variables)
            if response is not None and response.status_code in step.get("skip_if_status", []):
                why = step.get("skip_reason", "the credential may not do this") + f" ({response.status_code})"
                skipped = why if scenario.get("sequential") and not step.get("optional") else None
                outcomes[step["name"]] = "skip"
                _lost(step, f"{step['name']!r} was skipped: {why}", unavailable)
                yield result(step, "skip", why)
                continue
            if failure and step.get("prune_on_refusal") and response is not None:
                response, failure = _pruned_retry(step, context, variables, unavailable, response, failure)
            outcomes[step["name"]] = "fail" if failure else "pass"
            captured = [name for name in step.get("capture", {}) if name in variables]
            for name in captured:
                unavailable.pop(name, None)
            if failure:
                _lost(step, f"{step['name']!r} failed: {failure}", unavailable, keep=captured)
            yield result(step, "fail" if failure else "pass", failure or "", response if failure else None)
    finally:
        for step in scenario.get("teardown", []):
            if _needed(step, unavailable) or _VARIABLE.search(json.dumps(_substituted(step["request"], variables))):
                continue  # what it would delete was never made
            try:
                context.send(step["request"], variables)
            except (requests.RequestException, KeyError):
                pass


def _sent(step: dict, context: Context, variables: dict[str, str]) -> tuple[requests.Response | None, str | None]:
    """(the response, None) or (the response, why the step's assertions or captures failed), (None, why) when
    the server did not answer. A failure quotes the server's OperationOutcome."""
    try:
        response = context.send(step["request"], variables)
    except requests.RequestException as error:
        return None, f"no answer: {error}"
    failure = _failure(step, response, variables)
    said = outcome_text(response) if failure else ""
    return response, (f"{failure} (the server's OperationOutcome: {said})" if said else failure)


def _pruned_retry(step: dict, context: Context, variables: dict[str, str], unavailable: dict[str, str],
                  refused: requests.Response, failure: str) -> tuple[requests.Response, str | None]:
    """A create refused while it references resources the server declares no way to make (`prune_on_refusal`:
    those fixtures' variables, set to ids the server does not hold): sent again without those references. When
    that passes, what searches them is skipped with the refusal as the reason; else the first refusal stands."""
    names = [name for name in step["prune_on_refusal"] if f"${{{name}}}" in json.dumps(step["request"])]
    if not names:
        return refused, failure
    body = _pruned(step["request"]["body"], [f"${{{name}}}" for name in names])
    response, again = _sent({**step, "request": {**step["request"], "body": body}}, context, variables)
    if again or response is None:
        return refused, failure
    said = f"{refused.status_code}: {outcome_text(refused)}" if outcome_text(refused) else str(refused.status_code)
    for name in names:
        unavailable[name] = (f"the server refused a reference to {name}/{variables.get(name)}, which it does not "
                             f"hold and declares no create for ({said})")
    return response, None


def _pruned(value, tokens: list[str]):
    """`value` without the objects that hold a string naming one of `tokens`, and without the lists and objects
    left empty by that (a reference goes, and the element holding only it)."""
    if isinstance(value, dict):
        if any(isinstance(item, str) and any(token in item for token in tokens) for item in value.values()):
            return _DROPPED
        kept = {key: pruned for key, item in value.items() if (pruned := _pruned(item, tokens)) is not _DROPPED}
        return kept if kept or not value else _DROPPED
    if isinstance(value, list):
        kept = [pruned for item in value if (pruned := _pruned(item, tokens)) is not _DROPPED]
        return kept if kept or not value else _DROPPED
    return value


_DROPPED = object()


def _not_runnable(step: dict, declared: Declared, context: Context, variables: dict[str, str],
                  unavailable: dict[str, str], outcomes: dict[str, str]) -> str | None:
    """Why `step` is skipped: what it requires is not declared, a step it builds on did not pass, or a value it
    uses could not be made (then the root cause: the step that failed and the server's answer)."""
    missing = next((why for requirement in step.get("requires", [])
                    if (why := _missing(requirement, declared, context))), None)
    if missing:
        return missing
    uncaptured = [name for name in step.get("needs_captured", []) if name not in variables]
    if uncaptured:
        return f"the instance found holds no value to search by ({', '.join(uncaptured)})"
    earlier = next((name for name in step.get("depends_on", []) if outcomes.get(name) != "pass"), None)
    if earlier:
        return f"not run: it builds on {earlier!r}, which did not pass"
    needed = _needed(step, unavailable)
    return f"not run: {unavailable[needed]}" if needed else None


def _needed(step: dict, unavailable: dict[str, str]) -> str | None:
    """The first variable `step` uses that no step could make."""
    used = _VARIABLE.findall(json.dumps([step.get("request"), step.get("assert")]))
    return next((name for name in used if name in unavailable), None)


def _lost(step: dict, why: str, unavailable: dict[str, str], keep: list[str] | None = None) -> None:
    """The variables `step` would have captured (but those in `keep`) are unavailable to later steps, with the
    root cause: a step skipped for want of an earlier one's value passes that one's reason on."""
    needed = _needed(step, unavailable)
    for name in step.get("capture", {}):
        if name not in (keep or []):
            unavailable[name] = unavailable[needed] if needed else why


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
        if value is None and (step.get("capture_optional") or problems):  # an answer refused says it all
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
