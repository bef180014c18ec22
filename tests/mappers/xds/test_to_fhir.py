"""XDS.b to FHIR: golden Bundles (XDS_REGENERATE=1 rewrites them), valid R4, with what an MHD ITI-65 Provide
Document Bundle must hold for fhir_server/service/mhd.py."""
from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest

from mappers.xds import parse_provide_and_register, to_fhir
from validation import validate_resource

from .support import EXPECTED, NAMES, request

MHD = "https://profiles.ihe.net/ITI/MHD"
VALUE_SETS = EXPECTED.parents[3] / "profiles" / "pdsm-value-sets.json"


def bundle(name: str) -> dict:
    return to_fhir(parse_provide_and_register(*request(name)))


@pytest.mark.parametrize("name", NAMES)
def test_the_bundle_is_the_golden_one_and_valid(name):
    result = bundle(name)
    golden = EXPECTED / f"{name.rsplit('.', 1)[0]}.json"
    if os.environ.get("XDS_REGENERATE"):
        golden.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert result == json.loads(golden.read_text(encoding="utf-8"))
    assert bundle(name) == result  # deterministic: fullUrls come from the uniqueIds
    assert [i for i in validate_resource(result, invariants=True) if i.severity == "error"] == []


@pytest.mark.parametrize("name", NAMES)
def test_the_bundle_holds_what_iti_65_requires(name):
    entries = bundle(name)["entry"]
    by_type: dict[str, list] = {}
    for entry in entries:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry)
        assert entry["request"] == {"method": "POST", "url": entry["resource"]["resourceType"]}
        assert entry["fullUrl"].startswith("urn:uuid:")
    [submission_set] = by_type["List"]
    listed = submission_set["resource"]
    assert listed["code"]["coding"] == [{"system": f"{MHD}/CodeSystem/MHDlistTypes", "code": "submissionset"}]
    assert {e["url"] for e in listed["extension"]} == {f"{MHD}/StructureDefinition/ihe-sourceId",
                                                      f"{MHD}/StructureDefinition/ihe-designationType"}
    assert [i["use"] for i in listed["identifier"]] == ["usual", "official"]
    documents, binaries = by_type["DocumentReference"], {e["fullUrl"]: e["resource"] for e in by_type["Binary"]}
    assert [e["item"]["reference"] for e in listed["entry"]] == [d["fullUrl"] for d in documents]
    subjects = {listed["subject"]["reference"]} | {d["resource"]["subject"]["reference"] for d in documents}
    assert len(subjects) == 1 and subjects.pop().startswith("Patient?identifier=urn:oid:")
    for document in (d["resource"] for d in documents):
        for element in ("masterIdentifier", "type", "category", "securityLabel"):
            assert document[element]
        attachment = document["content"][0]["attachment"]
        data = base64.b64decode(binaries.pop(attachment["url"])["data"])
        assert attachment["size"] == len(data)
        assert attachment["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
        assert {"#" + r["id"] for r in document["contained"]} >= {a["reference"] for a in document.get("author", [])}
    assert binaries == {}  # every Binary is some document's content


def test_the_french_bundle_uses_the_dmp_value_sets_and_the_ins():
    sets = json.loads(VALUE_SETS.read_text(encoding="utf-8"))
    [document] = [e["resource"] for e in bundle("french_ins_jdv.xml")["entry"]
                  if e["resource"]["resourceType"] == "DocumentReference"]
    allowed = {element: {(c["system"], c["code"]) for c in sets[element]["concepts"]}
               for element in ("type", "category")}
    assert {(c["system"], c["code"]) for c in document["type"]["coding"]} <= allowed["type"]
    assert {(c["system"], c["code"]) for c in document["category"][0]["coding"]} <= allowed["category"]
    assert document["subject"] == {"reference": "Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|1800175123456"}
    assert document["masterIdentifier"] == {"system": "urn:oid:1.2.250.1.213.4.1.2.3.20240502.1",
                                            "value": "CR-2024-0042"}
    assert document["content"][0]["format"]["system"] == \
        "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"
    assert document["context"]["practiceSetting"]["coding"][0]["system"] == \
        "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"


def test_a_replacement_is_a_conditional_reference_to_the_replaced_entry():
    documents = [e["resource"] for e in bundle("mtom_two_documents.mime")["entry"]
                 if e["resource"]["resourceType"] == "DocumentReference"]
    assert "relatesTo" not in documents[0]
    assert documents[1]["relatesTo"] == [{"code": "replaces", "target": {
        "reference": "DocumentReference?identifier=urn:ietf:rfc:3986|urn:uuid:7a1d3c5e-2b4f-4a6c-8e0d-1f2a3b4c5d6e"}}]
