"""Official R4 examples survive JSON -> XML -> JSON; official validator test cases in XML are read."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from fhir_server.formats import FhirFormatError, fhir_json
from fhir_server.formats.fhir_json import FhirDecimal
from fhir_server.formats.xml import json_to_xml, xml_to_json
from validation.definitions import packages_dir

EXAMPLES = packages_dir() / "hl7.fhir.r4.examples"
SHARED_TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
OUR_TYPES = ("Patient", "DocumentReference", "Consent", "AuditEvent", "Binary", "List", "Bundle")
MAX_SIZE = 1_000_000
DEFINITIONAL = {"StructureDefinition", "ValueSet", "CodeSystem", "SearchParameter", "ConceptMap",
                "NamingSystem", "CompartmentDefinition", "OperationDefinition", "CapabilityStatement"}
# Valid for the validator, but only in R5: R4 has no Group.membership (it has Group.actual).
R5_ONLY = {"group-minimal.xml": "Group.membership is an R5 element"}


def _small_examples(prefix: str = "") -> list[Path]:
    return sorted(p for p in EXAMPLES.glob(f"{prefix}*.json")
                  if p.name != "package.json" and p.stat().st_size < MAX_SIZE)


def _is_data_bundle(path: Path) -> bool:
    """A Bundle of instance data (transaction, searchset, document...), not a bundle of definitions."""
    bundle = json.loads(path.read_bytes())
    types = {entry.get("resource", {}).get("resourceType") for entry in bundle.get("entry", [])}
    return not types or not types <= DEFINITIONAL


def _our_examples() -> list:
    paths = [p for t in OUR_TYPES for p in _small_examples(f"{t}-") if t != "Bundle" or _is_data_bundle(p)]
    if SHARED_TESTDATA.joinpath("fhir-r4-examples").is_dir():
        paths += sorted(SHARED_TESTDATA.joinpath("fhir-r4-examples").glob("*.json"))
    return [pytest.param(p, id=f"{p.parent.name}/{p.name}") for p in paths]


def _canonical_xhtml(text: str) -> str:
    return etree.canonicalize(text, strip_text=False)


def differences(original: object, back: object, path: str = "") -> str | None:
    """Where two FHIR JSON values differ: numbers compare numerically (decimals by their digits),
    narratives as canonical XML."""
    if isinstance(original, dict) and isinstance(back, dict):
        if original.keys() != back.keys():
            return f"{path}: properties {sorted(original.keys() ^ back.keys())} differ"
        for key, value in original.items():
            if key == "div" and isinstance(value, str) and isinstance(back[key], str):
                if value != back[key] and _canonical_xhtml(value) != _canonical_xhtml(back[key]):
                    return f"{path}.div: {value[:80]!r} became {back[key][:80]!r}"
                continue
            found = differences(value, back[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(original, list) and isinstance(back, list):
        if len(original) != len(back):
            return f"{path}: {len(original)} items became {len(back)}"
        for i, (a, b) in enumerate(zip(original, back)):
            found = differences(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(original, bool) or isinstance(back, bool):
        return None if original is back else f"{path}: {original!r} became {back!r}"
    if isinstance(original, FhirDecimal) and isinstance(back, FhirDecimal):  # the very digits are kept
        return None if str(original) == str(back) else f"{path}: {original} became {back}"
    if isinstance(original, (int, float, Decimal)) and isinstance(back, (int, float, Decimal)):
        return None if original == back else f"{path}: {original!r} became {back!r}"
    return None if type(original) is type(back) and original == back else f"{path}: {original!r} became {back!r}"


def round_trip_problem(path: Path) -> str | None:
    original = fhir_json.loads(path.read_bytes())
    try:
        data = json_to_xml(original)
        root = etree.fromstring(data)
        if etree.QName(root).namespace != "http://hl7.org/fhir":
            return "the XML is not in the FHIR namespace"
        return differences(original, xml_to_json(data))
    except FhirFormatError as e:
        return f"FhirFormatError: {e}"


@pytest.mark.parametrize("path", _our_examples())
def test_official_example_round_trips(path):
    assert round_trip_problem(path) is None


def test_official_examples_of_our_types_were_found():
    names = {p.values[0].name for p in _our_examples()}
    assert {"Patient-example.json", "Bundle-bundle-transaction.json", "Binary-example.json"} <= names
    assert "Bundle-conceptmaps.json" not in names and "Bundle-resources.json" not in names


def test_every_official_example_under_one_megabyte_round_trips():
    """All ~5300 examples of the npm package, definitions included (about 20 s)."""
    paths = _small_examples()
    assert len(paths) > 2500
    failures = {}
    for path in paths:
        problem = round_trip_problem(path)
        if problem:
            failures[path.name] = problem
    assert not failures, f"{len(failures)} of {len(paths)} examples do not round-trip: {list(failures.items())[:10]}"


def _validator_cases() -> list:
    folder = SHARED_TESTDATA / "validator"
    if not folder.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{folder} is absent"), id="absent")]
    expected = {case["file"]: case for case in json.loads((folder / "expected.json").read_bytes())}
    cases = []
    for path in sorted(folder.glob("*.xml")):
        if not expected.get(path.name, {}).get("valid"):
            continue
        marks = [pytest.mark.xfail(strict=True, raises=FhirFormatError, reason=R5_ONLY[path.name])] \
            if path.name in R5_ONLY else []
        cases.append(pytest.param(path, marks=marks, id=path.name))
    return cases


@pytest.mark.parametrize("path", _validator_cases())
def test_valid_validator_test_case_is_read_and_round_trips(path):
    resource = xml_to_json(path.read_bytes())
    assert resource["resourceType"] == etree.QName(etree.parse(str(path)).getroot()).localname
    assert xml_to_json(json_to_xml(resource)) == resource
