"""The `capability` scenarios, made at run time from what the server declares: the CapabilityStatement is a
valid R4 one, each declared read and type search exists, and every search parameter it declares is accepted
(strict handling refuses unknown ones)."""
from __future__ import annotations

from urllib.parse import quote

from .capability import Declared

# a value of each search parameter type that any server should take as well formed
SAMPLES = {"string": "zz", "token": "zz", "date": "ge2000-01-01", "uri": "http://example.org/zz", "number": "1",
           "quantity": "1", "reference": "zz"}


def capability_scenarios(declared: Declared) -> list[dict]:
    statement = {"name": "CapabilityStatement", "tags": ["capability"], "actions": [{
        "name": "GET metadata is an R4 server CapabilityStatement",
        "request": {"method": "GET", "path": "metadata", "auth": "none"},
        "assert": [{"status": 200}, {"path": "resourceType", "equals": "CapabilityStatement"},
                   {"path": "fhirVersion", "contains": "4.0."}, {"path": "rest.mode", "contains": "server"},
                   {"path": "format", "min_count": 1}, {"path": "status", "exists": True},
                   {"path": "kind", "exists": True}]}]}
    scenarios = [statement, _interactions(declared)]
    for kind, resource in sorted(declared.resources.items()):
        if "search-type" not in {i.get("code") for i in resource.get("interaction") or []}:
            continue
        actions = []
        for parameter in sorted(resource.get("searchParam") or [], key=lambda p: p.get("name", "")):
            sample = SAMPLES.get(parameter.get("type", ""))
            if sample is None:
                continue
            actions.append({"name": f"{kind}?{parameter['name']} is accepted",
                            "request": {"method": "GET", "path": f"{kind}?{parameter['name']}={quote(sample, safe='/:')}"
                                                                 "&_count=1",
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
            actions.append({"name": f"{kind} read exists", "skip_if_status": [401, 403],
                            "request": {"method": "GET", "path": f"{kind}/conformance-unknown-${{unique}}"},
                            "assert": [{"status": [404, 410]}, {"outcome": True}]})
        if "search-type" in codes:
            actions.append({"name": f"{kind} search-type exists", "skip_if_status": [401, 403],
                            "request": {"method": "GET", "path": f"{kind}?_count=1"},
                            "assert": [{"status": 200}, {"path": "type", "equals": "searchset"}]})
    return {"name": "declared interactions", "tags": ["capability"], "actions": actions}
