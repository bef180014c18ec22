"""ITI-57 Update Document Set (availability status) to FHIR: a conditional JSON Patch of the status of the
DocumentReference the entryUUID names, in the SubmissionSet's patient's record; what it does not take is
refused with XDS error codes. Golden Bundle: XDS_REGENERATE=1 rewrites it."""
from __future__ import annotations

import base64
import json
import os

import pytest

from mappers.errors import MappingError
from mappers.xds import (is_update_document_set, parse_provide_and_register, parse_update_document_set,
                         update_to_fhir)
from validation import validate_resource

from .support import EXPECTED, FIXTURES, NAMES, SOAP, codes, request

DELETED = (FIXTURES / "update_status_deleted.xml").read_bytes()
ENTRY = "urn:uuid:3c9a8f2e-5d1b-4e7a-9c3f-8b2d1e0f6a77"


def operations(bundle: dict) -> list[list[dict]]:
    return [json.loads(base64.b64decode(e["resource"]["data"])) for e in bundle["entry"]]


def refused(body: bytes) -> MappingError:
    with pytest.raises(MappingError) as caught:
        parse_update_document_set(body, SOAP)
    return caught.value


def test_a_deletion_is_a_conditional_patch_withdrawing_the_document():
    update = parse_update_document_set(DELETED, SOAP)
    assert update.message_id == "urn:uuid:1d7e0c55-2f1b-4c8e-8a61-7b9e4c2d5f10"
    bundle = update_to_fhir(update)
    golden = EXPECTED / "update_status_deleted.json"
    if os.environ.get("XDS_REGENERATE"):
        golden.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert bundle == json.loads(golden.read_text(encoding="utf-8"))
    assert [i for i in validate_resource(bundle, invariants=True) if i.severity == "error"] == []
    assert bundle["entry"][0]["request"] == {"method": "PATCH", "url": (
        f"DocumentReference?identifier=urn:ietf:rfc:3986|{ENTRY}"
        f"&patient.identifier=urn:oid:1.2.250.1.213.1.4.8|1800175123456")}
    assert operations(bundle) == [[{"op": "test", "path": "/status", "value": "current"},
                                   {"op": "replace", "path": "/status", "value": "entered-in-error"}]]


def test_a_deprecation_marks_the_document_superseded():
    deprecated = DELETED.replace(b"urn:asip:ci-sis:2010:StatusType:Deleted",
                                 b"urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated")
    assert operations(update_to_fhir(parse_update_document_set(deprecated, SOAP)))[0][1]["value"] == "superseded"


def test_only_iti_57_requests_are_taken_for_updates():
    assert is_update_document_set(DELETED)
    assert not any(is_update_document_set(request(name)[0]) for name in NAMES)
    with pytest.raises(MappingError):
        parse_provide_and_register(DELETED, SOAP)


@pytest.mark.parametrize("change, code, said", [
    ((b"urn:asip:ci-sis:2010:StatusType:Deleted", b"urn:asip:ci-sis:2010:StatusType:Archived"),
     "XDSMetadataUpdateError", "NewStatus urn:asip:ci-sis:2010:StatusType:Archived is not supported"),
    ((b"<rim:Value>urn:oasis:names:tc:ebxml-regrep:StatusType:Approved</rim:Value>",
      b"<rim:Value>urn:asip:ci-sis:2010:StatusType:Deleted</rim:Value>"),
     "XDSMetadataUpdateError", "OriginalStatus urn:asip:ci-sis:2010:StatusType:Deleted is not one of"),
    ((b"</rim:RegistryObjectList>", b'<rim:ExtrinsicObject id="Document01"/></rim:RegistryObjectList>'),
     "XDSMetadataUpdateError", "metadata updates (a new DocumentEntry version) are not supported"),
    ((b"AssociationType:UpdateAvailabilityStatus", b"AssociationType:RPLC"),
     "XDSMetadataUpdateError", "is not supported: only urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"),
    ((b'identificationScheme="urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"', b'identificationScheme="x"'),
     "XDSRegistryMetadataError", "patientId is required"),
    ((b"urn:ihe:iti:2010:UpdateDocumentSet<", b"urn:ihe:iti:2007:RegistryStoredQuery<"),
     "XDSRegistryMetadataError", "wsa:Action is urn:ihe:iti:2007:RegistryStoredQuery"),
], ids=["archived", "original-deleted", "new-version", "other-association", "no-patient", "other-action"])
def test_what_is_not_an_availability_status_update_is_refused(change, code, said):
    altered = DELETED.replace(*change)
    assert altered != DELETED
    error = refused(altered)
    assert set(codes(error)) == {code} and said in error.message
