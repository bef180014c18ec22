"""The official FHIR R4 examples of the types we serve: from the npm package (always fetched by
scripts/setup.sh) and, where it exists, the larger shared corpus in ../shared/testdata."""
from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from validation.definitions import example_path

SHARED_EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "fhir-r4-examples"


def official_examples(types: tuple[str, ...]) -> list[Path]:
    folders = [example_path("x").parent, SHARED_EXAMPLES]
    paths = []
    for folder in folders:
        if folder.is_dir():
            paths += sorted(p for p in folder.glob("*.json") if p.name.split("-")[0] in types)
    return paths


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def without_meta(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k != "meta"}


def canonical(value: object) -> object:
    """`value` with each narrative div in canonical XML form: the XML representation carries the
    XHTML, not its text, so `&quot;` may come back as `"`."""
    if isinstance(value, dict):
        return {k: etree.canonicalize(v, strip_text=False) if k == "div" and isinstance(v, str) else canonical(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value
