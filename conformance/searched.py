"""The capability checks that each declared search parameter filters: for each type we hold a searchable
instance of (searchable.json), the instance is created, then every declared parameter we have values for is
searched with a value that matches it (it is found) and one that does not (it is not), each with `_id` of the
instance so that no other resource of the server is concerned. From those two values come the forms of the
parameter's type (search.html): `:missing`; string `:exact`, `:contains`, prefix; token `:not`, code alone,
`system|`; date prefixes `eq ne gt lt ge le` and a coarser precision; reference by id and `:Type`; uri
`:below`. A server may refuse a form it does not support (400: a skip with that reason); ignoring one is a
failure, since it then finds what the form excludes. Each check cites the rule of its parameter type (rules.py).

The instance references resources made first (fixtures.py: a Patient, an Encounter...); the parameters for all
resources are searched on every type, their forms on one (Patient where declared), and `_profile`, `_security`,
`_source` and `_tag` on a second instance of that type, the only one claiming `meta` elements: a server may
refuse a profile it does not know, and only the checks about them then depend on it.

Types a client cannot create (AuditEvent, written by the server) are `found` instead: an instance the
server holds is searched for, and each parameter's matching value is captured from it, so a parameter whose
elements the server's instances leave empty is skipped with that reason."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

from .capability import Declared
from .fixtures import fixture_steps
from .rules import COMMON, INTERACTIONS, MISSING, of_parameter

DATA = json.loads((Path(__file__).resolve().parent / "searchable.json").read_text(encoding="utf-8"))
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?$")
_UNSUPPORTED = "the server does not support this form of the parameter"


def covered(kind: str) -> set[str]:
    """The parameters of `kind` these scenarios check (the others are only checked to be accepted)."""
    if kind in DATA["found"]:
        return set(DATA["found"][kind]["parameters"])
    entry = DATA["types"].get(kind)
    return set(DATA["common"]) | set(DATA["meta_parameters"]) | set(entry["parameters"]) if entry else set()


def searchable(declared: Declared) -> list[str]:
    """The types we hold a searchable instance of that the server creates and searches, the one that carries the
    checks of the parameters for all resources first (Patient where declared)."""
    kinds = [kind for kind in sorted(DATA["types"]) if {"create", "search-type"} <= {
        i.get("code") for i in (declared.resources.get(kind) or {}).get("interaction") or []}]
    return sorted(kinds, key=lambda kind: kind != "Patient")


def search_scenarios(declared: Declared) -> list[dict]:
    scenarios = []
    for position, kind in enumerate(searchable(declared)):
        entry, resource = DATA["types"][kind], declared.resources[kind]
        auth = entry.get("auth", "default")
        types = {p.get("name"): p.get("type") for p in resource.get("searchParam") or []}
        values = {**DATA["common"], **entry["parameters"]}
        checks = [check for name in sorted(types) if name in values
                  for check in _checks(kind, name, types[name], values[name], auth,
                                       forms=position == 0 or name not in DATA["common"])]
        steps, teardown, dangling = fixture_steps(entry.get("needs", []), kind, declared)
        steps.append({"name": f"{kind}: a searchable instance is created", "skip_if_status": [401, 403],
                      "rule": INTERACTIONS["create"],
                      "request": {"method": "POST", "path": kind, "auth": auth, "body": entry["resource"]},
                      "assert": [{"status": 201}], "capture": {"id": "location.id"},
                      "prune_on_refusal": sorted(dangling)})
        deleted = [{"name": "delete", "request": {"method": "DELETE", "path": f"{kind}/${{id}}", "auth": auth}}]
        meta = [name for name in sorted(types) if name in DATA["meta_parameters"]] if position == 0 else []
        if meta:  # the one instance claiming meta elements, for the checks about them
            steps.append({"name": f"{kind}: an instance claiming a profile, a security label, a tag and a source "
                                  "is created", "skip_if_status": [401, 403], "rule": INTERACTIONS["create"]
                          + "; resource.html#Meta (meta.profile, security, tag, source)",
                          "request": {"method": "POST", "path": kind, "auth": auth,
                                      "body": {**entry["resource"], "meta": DATA["meta"]}},
                          "assert": [{"status": 201}], "capture": {"tagged": "location.id"},
                          "prune_on_refusal": sorted(dangling)})
            checks += [check for name in meta for check in _checks(
                kind, name, types[name], DATA["meta_parameters"][name], auth, instance="tagged")]
            deleted.append({"name": "delete", "request": {"method": "DELETE", "path": f"{kind}/${{tagged}}",
                                                          "auth": auth}})
        scenarios.append({"name": f"{kind} search parameters filter", "tags": ["capability"], "sequential": True,
                          "requires": entry.get("requires", []), "variables": dangling, "actions": steps + checks,
                          "teardown": deleted + teardown})
    return scenarios


def found_scenarios(declared: Declared) -> list[dict]:
    """The same checks for the types a client cannot create (AuditEvent): on an instance the server holds,
    with matching values taken from it."""
    scenarios = []
    for kind, entry in sorted(DATA["found"].items()):
        resource = declared.resources.get(kind)
        if resource is None or "search-type" not in {i.get("code") for i in resource.get("interaction") or []}:
            continue
        auth = entry["auth"]
        types = {p.get("name"): p.get("type") for p in resource.get("searchParam") or []}
        values = {name: value for name, value in entry["parameters"].items() if name in types}
        steps, teardown, _ = fixture_steps(entry.get("needs", []), kind, declared)
        steps += [{**step, "skip_if_status": [401, 403]} for step in entry["before"]]
        captures = {found_variable(name): f"search:entry[0].resource.{value['from']}"
                    for name, value in values.items() if "from" in value}
        steps.append({"name": f"{kind}: an instance is found", "skip_if_status": [401, 403],
                      "rule": INTERACTIONS["search-type"],
                      "request": {"method": "GET", "path": entry["search"], "auth": auth},
                      "assert": [{"status": 200}, {"path": "entry", "min_count": 1}],
                      "capture": {"id": "body:entry[0].resource.id", **captures}, "capture_optional": True})
        checks = [check for name in sorted(values) for check in _checks(kind, name, types[name], values[name], auth)]
        scenarios.append({"name": f"{kind} search parameters filter", "tags": ["capability"], "sequential": True,
                          "requires": entry.get("requires", []), "actions": steps + checks, "teardown": teardown})
    return scenarios


def found_variable(name: str) -> str:
    """The variable a found instance's value of parameter `name` is captured in."""
    return "found_" + name.replace("-", "_")


def _checks(kind: str, name: str, kind_of: str | None, value: list | dict, auth: str, forms: bool = True,
            instance: str = "id") -> list[dict]:
    """The checks of one parameter on the instance whose id is in variable `instance`: a value that matches
    finds it, one that does not leaves it out, and (with `forms`) the modifiers and prefixes of its type. A value
    taken `from` the instance found is a variable, so only the forms that leave it whole are made (`:missing`,
    token `:not`, string `:exact`, date prefixes)."""
    if isinstance(value, list):
        value = {"match": value[0], "miss": value[1]}
    captured = found_variable(name) if "from" in value else None
    match = f"${{{captured}}}" if captured else value["match"]
    found = [(f"{name}={match}", True, False), (f"{name}={value['miss']}", False, False)]
    if forms and value.get("forms", True) and name != "_id":
        found += [(query, finds, True) for query, finds in _forms(name, kind_of, match, whole=bool(captured))]
    rule = of_parameter(kind_of) if not name.startswith("_") else f"{COMMON}; {of_parameter(kind_of)}"
    checks = [_check(kind, query, finds, optional, auth, instance, rule) for query, finds, optional in found]
    if not captured:
        return checks
    return [{**check, "name": check["name"].replace(match, f"<its {value['from']}>"), "needs_captured": [captured]}
            for check in checks]


def _forms(name: str, kind_of: str | None, match: str, whole: bool = False) -> list[tuple[str, bool]]:
    """Other queries derived from a matching value, and whether each finds the instance; `whole`: only those
    that take the value as it is (a variable, known at run time)."""
    forms = [(f"{name}:missing=false", True), (f"{name}:missing=true", False)]
    if kind_of == "string":
        forms.append((f"{name}:exact={match}", True))
        if not whole:
            forms.append((f"{name}={match[:3].lower()}", True))
            if match.swapcase() != match:
                forms.append((f"{name}:exact={match.swapcase()}", False))
            if len(match) >= 4:
                forms.append((f"{name}:contains={match[1:-1].upper()}", True))
    elif kind_of == "token":
        forms.append((f"{name}:not={match}", False))
        system, bar, code = match.rpartition("|")
        if bar and system and not whole:
            forms += [(f"{name}={code}", True), (f"{name}={system}|", True)]
    elif kind_of == "date" and (whole or _DATE.match(match)):
        forms += [(f"{name}={prefix}{match}", finds) for prefix, finds in (
            ("eq", True), ("ne", False), ("ge", True), ("le", True), ("gt", False), ("lt", False))]
        if len(match) > 4 and not whole:
            forms.append((f"{name}={match[:4]}", True))
    elif kind_of == "reference" and not whole and re.fullmatch(r"[A-Z][A-Za-z]+/[^/]+", match):
        target, _, identity = match.partition("/")
        forms += [(f"{name}={identity}", True), (f"{name}:{target}={identity}", True)]
    elif kind_of == "uri" and not whole and "/" in match.split("//", 1)[-1]:
        forms.append((f"{name}:below={match.rsplit('/', 1)[0]}", True))
    return forms


def _check(kind: str, query: str, finds: bool, optional: bool, auth: str, instance: str, rule: str) -> dict:
    name, _, value = query.partition("=")
    criteria = f"{name}={quote(value, safe='/:|${}')}"
    path = f"{kind}?{criteria}" if name == "_id" else f"{kind}?_id=${{{instance}}}&{criteria}"
    step = {"name": f"{kind}?{query} {'finds' if finds else 'does not find'} it",
            "rule": MISSING if ":missing=" in query else rule,
            "request": {"method": "GET", "path": path, "auth": auth, "headers": {"Prefer": "handling=strict"}},
            "assert": [{"status": 200}, {"path": "type", "equals": "searchset"},
                       {"path": "entry.resource.id", "contains" if finds else "excludes": f"${{{instance}}}"}]}
    if optional:
        step.update(skip_if_status=[400], skip_reason=_UNSUPPORTED, optional=True)
    return step
