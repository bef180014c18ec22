"""The `capability` scenarios, made at run time from what the server declares: the CapabilityStatement is a
valid R4 one, each declared read, type search and type history exists, each declared instance interaction
works on a minimal instance of the type (minimal-resources.json), each declared search parameter filters
(searched.py) or, for those we hold no values for, is accepted (strict handling refuses unknown ones). Every
check cites the rule it tests (rules.py)."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from .capability import Declared
from .fixtures import fixture_steps
from .rules import ACCEPTED, CAPABILITIES, INTERACTIONS
from .searched import covered, found_scenarios, search_scenarios, searchable

MINIMAL = json.loads((Path(__file__).resolve().parent / "minimal-resources.json").read_text(encoding="utf-8"))

# a value of each search parameter type that any server should take as well formed
SAMPLES = {"string": "zz", "token": "zz", "date": "ge2000-01-01", "uri": "http://example.org/zz", "number": "1",
           "quantity": "1", "reference": "zz"}
# parameters a sample value of their type does not fit: they have a grammar of their own, checked elsewhere
NOT_SAMPLED = {"_has", "_filter", "_query", "_type"}
PATCH = [{"op": "add", "path": "/text", "value": {
    "status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">patched by the conformance suite</div>"}}]


def capability_scenarios(declared: Declared) -> list[dict]:
    statement = {"name": "CapabilityStatement", "tags": ["capability"], "actions": [{
        "name": "GET metadata is an R4 server CapabilityStatement", "rule": CAPABILITIES,
        "request": {"method": "GET", "path": "metadata", "auth": "none"},
        "assert": [{"status": 200}, {"path": "resourceType", "equals": "CapabilityStatement"},
                   {"path": "fhirVersion", "contains": "4.0."}, {"path": "rest.mode", "contains": "server"},
                   {"path": "format", "min_count": 1}, {"path": "status", "exists": True},
                   {"path": "kind", "exists": True}]}]}
    return [statement, _interactions(declared)] + _lifecycles(declared) + search_scenarios(declared) \
        + found_scenarios(declared) + _accepted(declared)


def _accepted(declared: Declared) -> list[dict]:
    """The declared parameters we hold no values for are accepted under strict handling (a well-formed value of
    their type). Those for all resources (`_list`, `_text`...) are asked once, of the type that carries the
    checks of the parameters for all resources; `_has` (chained: search-chains.json), `_filter` (its own
    grammar: search-filter.json), `_query` (a named query) and `_type` are not asked with a sample."""
    scenarios = []
    first = next(iter(searchable(declared)), None) or next(
        (kind for kind, resource in sorted(declared.resources.items())
         if "search-type" in {i.get("code") for i in resource.get("interaction") or []}), None)
    for kind, resource in sorted(declared.resources.items()):
        if "search-type" not in {i.get("code") for i in resource.get("interaction") or []}:
            continue
        actions = []
        for parameter in sorted(resource.get("searchParam") or [], key=lambda p: p.get("name", "")):
            name = parameter.get("name", "")
            sample = SAMPLES.get(parameter.get("type", ""))
            if sample is None or name in covered(kind) or name in NOT_SAMPLED or (name.startswith("_")
                                                                                  and kind != first):
                continue
            actions.append({"name": f"{kind}?{name} is accepted", "rule": ACCEPTED,
                            "request": {"method": "GET", "path": f"{kind}?{name}={quote(sample, safe='/:')}&_count=1",
                                        "headers": {"Prefer": "handling=strict"}},
                            "skip_if_status": [401, 403],
                            "assert": [{"status": 200}, {"path": "resourceType", "equals": "Bundle"},
                                       {"path": "type", "equals": "searchset"}]})
        if actions:
            scenarios.append({"name": f"{kind} search parameters", "tags": ["capability"], "actions": actions})
    return scenarios


def _interactions(declared: Declared) -> dict:
    """Each declared read answers an unknown id with 404 and an OperationOutcome (the interaction exists),
    each declared type search answers a searchset."""
    actions = []
    for kind, resource in sorted(declared.resources.items()):
        codes = {i.get("code") for i in resource.get("interaction") or []}
        if "read" in codes:
            actions.append({"name": f"{kind} read exists", "skip_if_status": [401, 403], "rule": INTERACTIONS["read"],
                            "request": {"method": "GET", "path": f"{kind}/conformance-unknown-${{unique}}"},
                            "assert": [{"status": [404, 410]}, {"outcome": True}]})
        if "search-type" in codes:
            actions.append({"name": f"{kind} search-type exists", "skip_if_status": [401, 403],
                            "rule": INTERACTIONS["search-type"],
                            "request": {"method": "GET", "path": f"{kind}?_count=1"},
                            "assert": [{"status": 200}, {"path": "type", "equals": "searchset"}]})
        if "history-type" in codes:
            actions.append({"name": f"{kind} history-type exists", "skip_if_status": [401, 403],
                            "rule": INTERACTIONS["history-type"],
                            "request": {"method": "GET", "path": f"{kind}/_history?_count=1"},
                            "assert": [{"status": 200}, {"path": "type", "equals": "history"}]})
    return {"name": "declared interactions", "tags": ["capability"], "actions": actions}


def _lifecycles(declared: Declared) -> list[dict]:
    """For each type declaring create that we hold a minimal instance of: every other interaction it declares
    on that instance (read, update, vread, patch, history-instance, delete, then 410), in that order, after
    the fixtures it needs."""
    scenarios = []
    for kind, resource in sorted(declared.resources.items()):
        codes = {i.get("code") for i in resource.get("interaction") or []}
        sample = MINIMAL["resources"].get(kind)
        if "create" not in codes or sample is None:
            continue
        path = f"{kind}/${{id}}"
        fixtures, teardown, _ = fixture_steps(sample.get("needs", []), kind, declared)
        steps = [{"name": f"{kind} create", "request": {"method": "POST", "path": kind, "body": sample["create"]},
                  "assert": [{"status": 201}], "capture": {"id": "location.id"}}]
        if "read" in codes:
            steps.append({"name": f"{kind} read", "request": {"method": "GET", "path": path},
                          "assert": [{"status": 200}, {"path": "id", "equals": "${id}"}],
                          "capture": {"version": "body:meta.versionId"}})
        if "update" in codes:
            steps.append({"name": f"{kind} update", "request": {"method": "PUT", "path": path, "body": {
                **sample["create"], **sample["update"], "id": "${id}"}}, "assert": [{"status": 200}]})
        if "vread" in codes and "read" in codes:
            steps.append({"name": f"{kind} vread", "request": {"method": "GET", "path": f"{path}/_history/${{version}}"},
                          "assert": [{"status": 200}, {"path": "id", "equals": "${id}"}]})
        if "patch" in codes:
            steps.append({"name": f"{kind} patch (JSON Patch)", "request": {
                "method": "PATCH", "path": path, "headers": {"Content-Type": "application/json-patch+json"},
                "text": json.dumps(sample.get("patch", PATCH))}, "assert": [{"status": 200}]})
        if "history-instance" in codes:
            versions = 1 + ("update" in codes) + ("patch" in codes)
            steps.append({"name": f"{kind} history-instance", "request": {"method": "GET", "path": f"{path}/_history"},
                          "assert": [{"status": 200}, {"path": "type", "equals": "history"},
                                     {"path": "entry", "min_count": versions}],
                          "depends_on": [step["name"] for step in steps if step["name"].split()[1] in (
                              "update", "patch")]})  # the versions it counts
        if "delete" in codes:
            steps.append({"name": f"{kind} delete", "request": {"method": "DELETE", "path": path},
                          "assert": [{"status": [200, 204]}]})
            if "read" in codes:
                steps.append({"name": f"{kind} read after delete", "request": {"method": "GET", "path": path},
                              "assert": [{"status": [404, 410]}], "depends_on": [f"{kind} delete"],
                              "rule": INTERACTIONS["read-deleted"]})
        auth = sample.get("auth", "default")
        for step in steps:
            step.setdefault("rule", INTERACTIONS[step["name"].split()[1]])
            step["skip_if_status"] = [401, 403]
            step["request"]["auth"] = auth
        scenarios.append({"name": f"{kind} interactions", "tags": ["capability"], "sequential": True,
                          "requires": sample.get("requires", []), "actions": fixtures + steps,
                          "teardown": [{"name": "delete", "request": {"method": "DELETE", "path": path, "auth": auth}}]
                          + teardown})
    return scenarios
