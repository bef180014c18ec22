"""What the CDA mapper tests share: the documents (the shared C-CDA samples when ../shared exists, and this
folder's fixtures), their Bundles, and ways to alter a fixture or catch a refusal."""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import pytest
from lxml import etree

from mappers.cda import to_fhir
from mappers.errors import MappingError

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
SHARED = HERE.parents[3] / "shared" / "testdata" / "cda"
HL7 = "urn:hl7-org:v3"
LDL_SES = FIXTURES / "cisis_ldl_ses.xml"
RESTRICTED = FIXTURES / "cisis_restricted_pdf.xml"


def documents() -> list[Path]:
    """Every document the golden tests run on: the shared samples (none without ../shared), then ours."""
    shared = sorted(SHARED.glob("*.xml")) if SHARED.is_dir() else []
    return shared + sorted(FIXTURES.glob("*.xml"))


@lru_cache(maxsize=None)
def _bundle(path: Path) -> dict:
    return to_fhir(path.read_bytes())


def bundle(path: Path) -> dict:
    """The Bundle of a document (a copy: tests may change it)."""
    return copy.deepcopy(_bundle(path))


def resources(result: dict) -> dict[str, dict]:
    """The Bundle's resources by type."""
    return {entry["resource"]["resourceType"]: entry["resource"] for entry in result["entry"]}


def contained(document_reference: dict, reference: dict) -> dict:
    """The contained resource a `#id` reference points at."""
    return next(r for r in document_reference["contained"] if f"#{r['id']}" == reference["reference"])


def altered(path: Path, change) -> bytes:
    """The fixture with `change(root)` applied to its parsed tree (`change` gets the ClinicalDocument)."""
    root = etree.fromstring(path.read_bytes())
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def remove(root: etree._Element, path: str) -> None:
    """Removes every element at `path` (steps in the HL7 namespace) below `root`."""
    for element in root.findall("/".join(f"{{{HL7}}}{step}" for step in path.split("/"))):
        element.getparent().remove(element)


def refused(document: bytes) -> MappingError:
    """The MappingError to_fhir raises for `document`."""
    with pytest.raises(MappingError) as caught:
        to_fhir(document)
    return caught.value
