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
import re
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


def bundle_resources(name: str) -> list[dict]:
    """The resources of one Bundle of definitions of the examples package (``Bundle-valuesets.json``...), read
    from the file at each call."""
    return _bundle_resources(name)


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
def datatype_profiles() -> dict[str, dict]:
    """The core profiles of datatypes (SimpleQuantity, MoneyQuantity), by canonical URL: elements name them
    in `type.profile` (`Quantity` profiled as SimpleQuantity), and their invariants apply there."""
    return {sd["url"]: sd for sd in _bundle_resources("Bundle-types.json")
            if sd.get("resourceType") == "StructureDefinition" and sd.get("derivation") == "constraint"}


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


@lru_cache(maxsize=1)
def required_codes() -> dict[str, tuple[str, ...]]:
    """The allowed codes of every `code` element with a required binding to a closed list of codes, by
    element path (``DocumentReference.docStatus``); value sets that cannot be expanded from the package
    (MIME types, languages, currencies) are left out."""
    result: dict[str, tuple[str, ...]] = {}
    for sd in structure_definitions().values():
        for element in sd.get("snapshot", {}).get("element", []):
            binding = element.get("binding") or {}
            types = [t.get("code") for t in element.get("type", [])]
            if binding.get("strength") == "required" and types == ["code"] and binding.get("valueSet"):
                codes = _expansion(binding["valueSet"].split("|")[0])
                if codes:
                    result[element["path"]] = tuple(sorted(codes))
    return result


_ABSOLUTE_URI = re.compile(r"\b[Aa]n absolute (?:URI|base URL)\b")
URI_TYPES = frozenset({"uri", "url", "canonical"})


@lru_cache(maxsize=1)
def absolute_uri_elements() -> dict[str, str]:
    """The type (uri, url or canonical) of every element whose definition says its value is an absolute URI
    (``ValueSet.url``: "An absolute URI that is used to identify this value set...", ``ValueSet.compose.include
    .system``, ``StructureDefinition.baseDefinition``...), by element path."""
    result: dict[str, str] = {}
    for sd in structure_definitions().values():
        for element in sd.get("snapshot", {}).get("element", []):
            types = {t.get("code") for t in element.get("type", [])}
            if len(types) == 1 and types <= URI_TYPES and _ABSOLUTE_URI.search(element.get("definition", "")):
                result[element["path"]] = types.pop()
    return result


@lru_cache(maxsize=1)
def canonical_elements() -> frozenset[str]:
    """The path of every element of type canonical alone (``Measure.library``, ``Meta.profile``...)."""
    return frozenset(element["path"] for sd in structure_definitions().values()
                     for element in sd.get("snapshot", {}).get("element", [])
                     if [t.get("code") for t in element.get("type", [])] == ["canonical"])


@lru_cache(maxsize=1)
def open_bindings() -> dict[str, str]:
    """The binding strength of every element bound to a value set with a strength other than required
    (extensible, preferred, example), by element path (``Expression.language``): any code is valid there."""
    result: dict[str, str] = {}
    for sd in structure_definitions().values():
        for element in sd.get("snapshot", {}).get("element", []):
            strength = (element.get("binding") or {}).get("strength")
            if strength and strength != "required":
                result[element["path"]] = strength
    return result


def _expansion(url: str) -> set[str] | None:
    """The codes of a value set made of whole code systems and code lists, or None."""
    value_set = _package_resource("ValueSet", url)
    compose = (value_set or {}).get("compose", {})
    if not compose or compose.get("exclude"):
        return None
    codes: set[str] = set()
    for include in compose.get("include", []):
        if include.get("filter"):
            return None
        if include.get("concept"):
            codes.update(concept["code"] for concept in include["concept"])
            continue
        for nested in include.get("valueSet", []):
            nested_codes = _expansion(nested.split("|")[0])
            if nested_codes is None:
                return None
            codes |= nested_codes
        if include.get("system"):
            code_system = _package_resource("CodeSystem", include["system"])
            if not code_system or code_system.get("content") != "complete":
                return None
            codes.update(_concept_codes(code_system.get("concept", [])))
    return codes


def _concept_codes(concepts: list[dict]):
    """Every selectable code of a code system's concept tree (abstract ones, such as item type `question`, are not)."""
    for concept in concepts:
        if not any(p.get("code") == "notSelectable" and p.get("valueBoolean") for p in concept.get("property", [])):
            yield concept["code"]
        yield from _concept_codes(concept.get("concept", []))


_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@lru_cache(maxsize=2048)
def package_structure_definition(url: str) -> dict | None:
    """A StructureDefinition of the examples package by canonical URL (``http://hl7.org/fhir/StructureDefinition/
    patient-birthPlace``: the file is named by the URL's tail, an id), or None; cached, one file read per URL."""
    tail = url.rsplit("/", 1)[-1]
    if not _ID.fullmatch(tail):
        return None
    return _package_resource("StructureDefinition", url)


@lru_cache(maxsize=512)
def package_resource(resource_type: str, url: str) -> dict | None:
    """A CodeSystem, ValueSet or StructureDefinition of the examples package by canonical URL, or None; cached."""
    return _package_resource(resource_type, url)


def _package_resource(resource_type: str, url: str) -> dict | None:
    """A ValueSet or CodeSystem of the examples package by canonical URL (its file is named by the URL's tail)."""
    path = example_path(f"{resource_type}-{url.rstrip('/').rsplit('/', 1)[-1]}.json")
    if not path.is_file():
        return None
    with path.open("rb") as f:
        resource = json.load(f)
    return resource if resource.get("url") == url else None
