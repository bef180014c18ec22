"""IHE XDS.b ITI-41 pushed to `$ingest`: stored as an MHD ITI-65 submission, answered with a RegistryResponse."""
from __future__ import annotations

import base64
from pathlib import Path

import requests
from lxml import etree

from ..api.client import HEADERS, INS

FIXTURES = Path(__file__).resolve().parent.parent / "mappers" / "xds" / "fixtures"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"


def status_and_codes(response) -> tuple[str, list[str]]:
    root = etree.fromstring(response.content)
    answer = root.find(f".//{{{RS}}}RegistryResponse")
    return answer.get("status"), [e.get("errorCode") for e in answer.iter(f"{{{RS}}}RegistryError")]


def test_a_french_submission_is_stored_once_and_answered_in_soap(http, base, db):
    submission = (FIXTURES / "french_ins_jdv.xml").read_bytes()
    patient = {"resourceType": "Patient", "identifier": [{"system": INS, "value": "1800175123456"}]}
    found = http.get(f"{base}/Patient", params={"identifier": f"{INS}|1800175123456"}).json()
    if not found.get("total"):
        assert http.post(f"{base}/Patient", headers=HEADERS, json=patient).status_code == 201
    first = http.post(f"{base}/$ingest", data=submission, headers={"Content-Type": "application/soap+xml"})
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("application/soap+xml")
    assert status_and_codes(first) == (SUCCESS, [])
    documents = http.get(f"{base}/DocumentReference", params={"patient.identifier": f"{INS}|1800175123456"}).json()
    assert documents["total"] >= 1
    again = http.post(f"{base}/$ingest", data=submission, headers={"Content-Type": "application/soap+xml"})
    assert status_and_codes(again) == (FAILURE, ["XDSDuplicateUniqueIdInRegistry"])
    assert http.get(f"{base}/DocumentReference", params={
        "patient.identifier": f"{INS}|1800175123456"}).json()["total"] == documents["total"]


def test_a_hash_that_does_not_match_is_refused_and_nothing_is_stored(http, base, db):
    submission = (FIXTURES / "plain_one_document.xml").read_bytes()
    tampered = submission.replace(b"<rim:Value>D2D0B01B", b"<rim:Value>00000000")  # the SHA-1, changed
    assert tampered != submission
    before = db["DocumentReference"].count_documents({})
    answer = http.post(f"{base}/$ingest", data=tampered, headers={"Content-Type": "application/soap+xml"})
    status, codes = status_and_codes(answer)
    assert (status, codes) == (FAILURE, ["XDSNonIdenticalHash"])
    assert db["DocumentReference"].count_documents({}) == before


def test_unknown_media_types_are_refused(http, base):
    refused = http.post(f"{base}/$ingest", data=b"\x00\x01", headers={"Content-Type": "image/png"})
    assert refused.status_code == 415 and refused.json()["resourceType"] == "OperationOutcome"


def test_hospital_systems_pull_over_xds(http, base):
    """ITI-18 FindDocuments then ITI-43 retrieve of what the French submission stored."""
    found = http.get(f"{base}/Patient", params={"identifier": f"{INS}|1800175123456"}).json()
    if not found.get("total"):
        http.post(f"{base}/Patient", headers=HEADERS, json={
            "resourceType": "Patient", "identifier": [{"system": INS, "value": "1800175123456"}]})
    http.post(f"{base}/$ingest", data=(FIXTURES / "french_ins_jdv.xml").read_bytes(),
              headers={"Content-Type": "application/soap+xml"})  # stored now, or already
    soap = {"Content-Type": "application/soap+xml"}
    query = http.post(f"{base.removesuffix('/fhir')}/xds/registry", data=(FIXTURES / "find_documents_ins.xml").read_bytes(),
                      headers=soap)
    assert query.status_code == 200, query.text
    root = etree.fromstring(query.content)
    answer = root.find(".//{urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0}AdhocQueryResponse")
    assert answer.get("status") == SUCCESS
    ids = [e.get("value") for e in root.iter("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}ExternalIdentifier")
           if e.get("identificationScheme") == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"]
    assert ids == ["1.2.250.1.213.4.1.2.3.20240502.1^CR-2024-0042"]
    request = (FIXTURES / "retrieve_two_documents.xml").read_bytes().replace(
        b"1.2.250.1.213.4.99", b"1.2.250.1.999.1.1").replace(
        b"<xdsb:DocumentUniqueId>1.2.250.1.213.4.1.2.3.20240502.1<",
        b"<xdsb:DocumentUniqueId>1.2.250.1.213.4.1.2.3.20240502.1^CR-2024-0042<")
    retrieved = http.post(f"{base.removesuffix('/fhir')}/xds/repository", data=request, headers=soap)
    assert retrieved.status_code == 200 and retrieved.headers["Content-Type"].startswith("multipart/related")
    assert b"PartialSuccess" in retrieved.content and b"XDSDocumentUniqueIdError" in retrieved.content
    sent = etree.fromstring((FIXTURES / "french_ins_jdv.xml").read_bytes()).find(".//{urn:ihe:iti:xds-b:2007}Document")
    assert base64.b64decode(sent.text) in retrieved.content  # the document itself, as a MIME part
    refused = http.post(f"{base.removesuffix('/fhir')}/xds/registry", data=b"<x/>", headers=soap)
    assert refused.status_code == 200 and b"Failure" in refused.content
    assert requests.post(f"{base.removesuffix('/fhir')}/xds/registry", data=b"<x/>", headers=soap).status_code == 401
