"""Resources a generated scenario needs before its own (a Patient for a DocumentReference, ...), from
fixtures.json: made as the first checks of a `sequential` scenario, so that a server or credential refusing
one skips what builds on it with the reason, and deleted at teardown."""
from __future__ import annotations

import json
from pathlib import Path

FIXTURES = json.loads((Path(__file__).resolve().parent / "fixtures.json").read_text(encoding="utf-8"))["fixtures"]


def ordered(names: list[str]) -> list[str]:
    """`names` and what they need, each once, what is needed first."""
    found: list[str] = []
    for name in names:
        for needed in ordered(FIXTURES[name].get("needs", [])) + [name]:
            if needed not in found:
                found.append(needed)
    return found


def fixture_steps(names: list[str], scenario: str) -> tuple[list[dict], list[dict]]:
    """(the steps making the fixtures, the teardown deleting them, last made first)."""
    steps, teardown = [], []
    for name in ordered(names):
        fixture = FIXTURES[name]
        steps.append({"name": f"{scenario}: the {name} it needs", "request": fixture["request"],
                      "skip_if_status": [401, 403], "assert": [{"status": fixture.get("status", 201)}],
                      "capture": {name: fixture.get("capture", "location.id")}})
        if not fixture.get("keep"):
            teardown.insert(0, {"name": f"delete {name}", "request": {
                "method": "DELETE", "path": f"{fixture['request']['path']}/${{{name}}}",
                "auth": fixture["request"].get("auth", "default")}})
    return steps, teardown
