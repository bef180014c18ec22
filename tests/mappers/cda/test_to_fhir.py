"""to_fhir on every document (the shared C-CDA samples and this folder's CI-SIS-like fixtures): the Bundle
equals its golden file, every resource is valid R4, the Binary holds the exact bytes, the output is stable.

Set CDA_GOLDEN_UPDATE=1 to rewrite the golden files (golden/<document>.json) from the current output; they
hold the Binary's data as a placeholder, the exact bytes being checked by test_binary_holds_the_exact_bytes.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

from mappers.cda import to_fhir
from validation import validate_resource

from .support import GOLDEN, LDL_SES, bundle, documents, resources

UPDATE = os.environ.get("CDA_GOLDEN_UPDATE") == "1"
PLACEHOLDER = "(the base64 of the document: see test_binary_holds_the_exact_bytes)"
DOCUMENTS = pytest.mark.parametrize("path", documents(), ids=lambda path: path.stem)


@DOCUMENTS
def test_bundle_matches_its_golden_file(path: Path) -> None:
    result = bundle(path)
    result["entry"][2]["resource"]["data"] = PLACEHOLDER
    golden = GOLDEN / f"{path.stem}.json"
    if UPDATE:
        golden.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert golden.is_file(), f"{golden} is missing: run the tests with CDA_GOLDEN_UPDATE=1 to write it"
    assert result == json.loads(golden.read_text(encoding="utf-8"))


@DOCUMENTS
def test_every_resource_is_valid_r4(path: Path) -> None:
    result = bundle(path)
    assert [e for e in validate_resource(result, "Bundle", invariants=True) if e.severity == "error"] == []
    for entry in result["entry"]:
        resource = entry["resource"]
        assert [e for e in validate_resource(resource, resource["resourceType"], invariants=True) if e.severity == "error"] == []


@DOCUMENTS
def test_binary_holds_the_exact_bytes(path: Path) -> None:
    data = path.read_bytes()
    result = bundle(path)
    found = resources(result)
    assert base64.b64decode(found["Binary"]["data"], validate=True) == data
    assert found["Binary"]["contentType"] == "text/xml"
    attachment = found["DocumentReference"]["content"][0]["attachment"]
    assert attachment["url"] == result["entry"][2]["fullUrl"]
    assert attachment["size"] == len(data)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert found["DocumentReference"]["subject"] == {"reference": result["entry"][0]["fullUrl"]}


@DOCUMENTS
def test_the_same_document_gives_the_same_bundle(path: Path) -> None:
    first, second = to_fhir(path.read_bytes()), to_fhir(path.read_bytes())
    assert first == second
    urls = [entry["fullUrl"] for entry in first["entry"]]
    assert len(set(urls)) == 3 and all(url.startswith("urn:uuid:") for url in urls)
    assert [entry["request"] for entry in first["entry"]][1:] == [{"method": "POST", "url": "DocumentReference"},
                                                                 {"method": "POST", "url": "Binary"}]


def test_full_urls_follow_the_document_id() -> None:
    data = LDL_SES.read_bytes()
    other = to_fhir(data.replace(b'extension="LDL-2024-000042"', b'extension="LDL-2024-000043"', 1))
    assert not {e["fullUrl"] for e in other["entry"]} & {e["fullUrl"] for e in to_fhir(data)["entry"]}
