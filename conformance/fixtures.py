"""Resources a generated scenario needs before its own (a Patient for a DocumentReference, an Encounter its
`context.encounter` references...), from fixtures.json: made as the first checks of a scenario, so that a
server or credential refusing one is one failure (or skip) with the server's answer, and what uses it is
skipped with that reason; deleted at teardown. A fixture of a type the server declares no create for is not
made: its variable holds an id the server does not hold (`otherwise`), and the create referencing it is sent
again without that reference if the server refuses it (runner.py, `prune_on_refusal`)."""
from __future__ import annotations

import json
from pathlib import Path

from .capability import Declared

FIXTURES = json.loads((Path(__file__).resolve().parent / "fixtures.json").read_text(encoding="utf-8"))["fixtures"]
RULE = "FHIR R4 http.html#create (a resource the checks after it need)"


def ordered(names: list[str]) -> list[str]:
    """`names` and what they need, each once, what is needed first."""
    found: list[str] = []
    for name in names:
        for needed in ordered(FIXTURES[name].get("needs", [])) + [name]:
            if needed not in found:
                found.append(needed)
    return found


def fixture_steps(names: list[str], scenario: str, declared: Declared) -> tuple[list[dict], list[dict], dict]:
    """(the steps making the fixtures, the teardown deleting them, last made first, the variables of those the
    server cannot make: name -> an id it does not hold)."""
    steps, teardown, dangling = [], [], {}
    for name in ordered(names):
        fixture = FIXTURES[name]
        request = fixture["request"]
        if "otherwise" in fixture and declared.missing({"resource": request["path"], "interaction": ["create"]}):
            dangling[name] = fixture["otherwise"]
            continue
        steps.append({"name": f"{scenario}: the {name} it needs", "request": request, "rule": fixture.get("rule", RULE),
                      "skip_if_status": [401, 403], "assert": [{"status": fixture.get("status", 201)}],
                      "capture": {name: fixture.get("capture", "location.id")}})
        if not fixture.get("keep"):
            teardown.insert(0, {"name": f"delete {name}", "request": {
                "method": "DELETE", "path": f"{request['path']}/${{{name}}}", "auth": request.get("auth", "default")}})
    return steps, teardown, dangling
