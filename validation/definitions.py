"""Where the official FHIR R4 definitions live, and loading them.

`scripts/fetch-fhir-packages.sh` unpacks two npm packages under `.cache/fhir-packages/` (or the folder named
by the FHIR_PACKAGES_DIR environment variable):
- `hl7.fhir.r4.examples` (4.0.1): `Bundle-resources.json` (every resource StructureDefinition),
  `Bundle-types.json` (every datatype StructureDefinition), `Bundle-searchParams.json` (every SearchParameter);
- `fhir-json-schema`: `fhir.schema.json`, the official R4 JSON schema (draft-06).
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

FHIR_VERSION = "4.0.1"
_DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".cache" / "fhir-packages"


class DefinitionsMissing(RuntimeError):
    """The official definitions were not fetched (run scripts/setup.sh)."""


def packages_dir() -> Path:
    return Path(os.environ.get("FHIR_PACKAGES_DIR") or _DEFAULT_DIR)


def _read_json(*parts: str) -> dict:
    path = packages_dir().joinpath(*parts)
    if not path.is_file():
        raise DefinitionsMissing(f"{path} is missing: run scripts/setup.sh to fetch the FHIR R4 definitions")
    with path.open("rb") as f:
        return json.load(f)


def _bundle_resources(name: str) -> list[dict]:
    return [entry["resource"] for entry in _read_json("hl7.fhir.r4.examples", name).get("entry", [])]


@lru_cache(maxsize=1)
def structure_definitions() -> dict[str, dict]:
    """Every base StructureDefinition of R4 (resources and datatypes), by type name."""
    result: dict[str, dict] = {}
    for bundle in ("Bundle-types.json", "Bundle-resources.json"):
        for sd in _bundle_resources(bundle):
            if sd.get("resourceType") == "StructureDefinition" and sd.get("derivation") != "constraint":
                result[sd["type"] if sd.get("kind") != "logical" else sd["id"]] = sd
    return result


@lru_cache(maxsize=1)
def search_parameters() -> list[dict]:
    """Every official R4 SearchParameter."""
    return [r for r in _bundle_resources("Bundle-searchParams.json") if r.get("resourceType") == "SearchParameter"]


@lru_cache(maxsize=1)
def json_schema() -> dict:
    """The official R4 JSON schema (fhir.schema.json, draft-06)."""
    return _read_json("fhir-json-schema", "fhir.schema.json")


def example_path(file_name: str) -> Path:
    """An official example of the spec, such as ``Patient-example.json``."""
    return packages_dir() / "hl7.fhir.r4.examples" / file_name
