"""from_fhir builds an MDM^T02 that to_fhir reads back into the same Patient and DocumentReference."""
from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from mappers.errors import MappingError
from mappers.hl7v2 import from_fhir, parse, to_fhir
from validation import validate_resource

from .support import fixture

FR_TYPES = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
PDF = b"%PDF-1.7\n% a document with | ^ ~ \\ & in it\n%%EOF\n"
PATIENT = {
    "resourceType": "Patient",
    "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                   "valueAddress": {"city": "Marseille", "district": "13055", "country": "FRA"}}],
    "identifier": [
        {"use": "official", "type": {"coding": [{"system": FR_TYPES, "code": "INS-NIA"}]},
         "system": "urn:oid:1.2.250.1.213.1.4.9", "value": "299122B01234567"},
        {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]},
         "system": "urn:oid:1.2.250.1.999.7.1", "value": "IPP|7^7", "period": {"start": "2020-01-01"}},
        {"system": "https://hopital.example.org/ipp", "value": "X-1"},
    ],
    "name": [{"use": "official", "family": "N'GUYEN", "given": ["Thị", "Mai", "Anh"], "prefix": ["MME"]},
             {"use": "usual", "family": "Martin & Fils"}],
    "telecom": [{"system": "phone", "value": "+33 4 00 00 00 00", "use": "home"},
                {"system": "phone", "value": "0600000000", "use": "mobile"},
                {"system": "email", "value": "mai@example.org", "use": "home"},
                {"system": "fax", "value": "0400000001", "use": "work"}],
    "gender": "female",
    "birthDate": "1999-12",
    "address": [{"use": "home", "line": ["3 chemin des Vignes", "Hameau du Puits"], "city": "Aix",
                 "postalCode": "13100", "country": "FRA"}],
}
DOCUMENT = {
    "resourceType": "DocumentReference",
    "contained": [{"resourceType": "Practitioner", "id": "author1",
                   "identifier": [{"type": {"coding": [{"system": FR_TYPES, "code": "RPPS"}]},
                                   "system": "urn:oid:1.2.250.1.71.4.2.1", "value": "10001234567"}],
                   "name": [{"family": "SALAH", "given": ["Nour"], "prefix": ["DR"]}]}],
    "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.7.2.1"},
    "status": "current",
    "docStatus": "final",
    "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9", "display": "Synthèse d'épisode"}]},
    "subject": {"reference": "Patient/p1"},
    "date": "2024-02-29T23:59:58+01:00",
    "author": [{"reference": "#author1"},
               {"type": "Practitioner",
                "identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "10009999999"}}],
    "relatesTo": [{"code": "replaces", "target": {"identifier": {"system": "urn:oid:1.2.250.1.999.7.2",
                                                                   "value": "OLD-1"}}}],
    "securityLabel": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                   "code": "V"}]}],
    "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/b1", "size": len(PDF),
                                "hash": base64.b64encode(hashlib.sha1(PDF).digest()).decode()}}],
    "context": {"period": {"start": "2024-02-28T08:00:00.250+01:00"}},
}
BINARY = {"resourceType": "Binary", "contentType": "application/pdf", "data": base64.b64encode(PDF).decode()}
LOCAL = {"subject", "url"}  # references, which a new Bundle gives new urn:uuids


def without_references(value: object) -> object:
    if isinstance(value, dict):
        return {key: without_references(item) for key, item in value.items() if key not in LOCAL}
    if isinstance(value, list):
        return [without_references(item) for item in value]
    return value


def kept(original: dict, copy: dict) -> None:
    """Every element of `original` is in `copy`, with the same value (references aside)."""
    original, copy = without_references(original), without_references(copy)
    assert {key: copy.get(key) for key in original} == original


def read_back(document: dict, binary: dict | bytes, patient: dict) -> tuple[dict, dict, bytes]:
    text = from_fhir(document, binary, patient, control_id="RT-1", now=datetime(2024, 3, 1, tzinfo=UTC))
    bundle = to_fhir(text)
    patient_back, document_back, binary_back = (entry["resource"] for entry in bundle["entry"])
    for resource in (patient_back, document_back, binary_back):
        assert not [issue for issue in validate_resource(resource, invariants=True) if issue.severity == "error"]
    return patient_back, document_back, base64.b64decode(binary_back["data"])


def test_round_trip() -> None:
    patient, document, content = read_back(DOCUMENT, BINARY, PATIENT | {"id": "p1"})
    kept(PATIENT, patient)
    kept({key: value for key, value in DOCUMENT.items() if key != "subject"}, document)
    assert content == PDF
    assert document["content"][0]["attachment"]["contentType"] == "application/pdf"


def test_the_message() -> None:
    text = from_fhir(DOCUMENT, PDF, PATIENT, sender="DMP", receiver="DPI", control_id="RT-2",
                     now=datetime(2024, 3, 1, 10, tzinfo=UTC))
    message = parse(text)
    assert [segment.name for segment in message.segments] == ["MSH", "EVN", "PID", "PV1", "TXA", "OBX"]
    msh = message.header
    assert [msh.get(n) for n in (3, 5, 7, 9, 10, 12, 18)] + [msh.get(9, 2)] == [
        "DMP", "DPI", "20240301100000+0000", "MDM", "RT-2", "2.5", "UNICODE UTF-8", "T10"]  # it replaces one
    txa, obx = message.first("TXA"), message.first("OBX")
    assert obx.get(11) == "C" and message.first("EVN").get(1) == "T10"
    assert [txa.get(2), txa.get(6), txa.get(12), txa.get(17), txa.get(18), txa.get(19)] == [
        "34133-9", "20240229235958+0100", "1.2.250.1.999.7.2.1", "AU", "V", "AV"]
    assert [obx.get(2), obx.get(5, 2), obx.get(5, 3), obx.get(5, 4)] == ["ED", "application", "pdf", "Base64"]
    assert base64.b64decode(obx.get(5, 5)) == PDF
    assert message.first("PID").get(3) == "299122B01234567" and message.first("PID").get(3, 5) == "INS"


@pytest.mark.parametrize("name", ["oru_r01_numeric.hl7", "oru_r01_pdf.hl7", "mdm_t02_cda_ins.hl7",
                                  "mdm_t02_latin1.hl7"])
def test_fixture_documents_round_trip(name: str) -> None:
    patient, document, binary = (entry["resource"] for entry in to_fhir(fixture(name))["entry"])
    patient_back, document_back, content = read_back(document, binary, patient)
    kept(patient, patient_back)
    kept(document, document_back)
    assert content == base64.b64decode(binary["data"])


@pytest.mark.parametrize("change, location", [
    (lambda document, binary, patient: patient.pop("identifier"), "Patient.identifier"),
    (lambda document, binary, patient: document.pop("type"), "DocumentReference.type"),
    (lambda document, binary, patient: binary.update(data="not base64!"), "Binary.data"),
    (lambda document, binary, patient: binary.update(data=base64.b64encode(b"other").decode()),
     "DocumentReference.content.attachment"),
    (lambda document, binary, patient: (binary.pop("contentType"), document.pop("content")),
     "DocumentReference.content.attachment"),
])
def test_what_cannot_make_a_message(change, location: str) -> None:
    document, binary, patient = dict(DOCUMENT), dict(BINARY), dict(PATIENT)
    change(document, binary, patient)
    with pytest.raises(MappingError) as caught:
        from_fhir(document, binary, patient)
    assert caught.value.location == location
