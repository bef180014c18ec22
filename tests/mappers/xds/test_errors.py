"""Each broken request is refused with the right XDS error code, and that one only."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from mappers.xds import MappingErrors

from .support import codes, refused, request

NS = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0", "xdsb": "urn:ihe:iti:xds-b:2007",
      "wsa": "http://www.w3.org/2005/08/addressing"}
ENTRY = "//rim:ExtrinsicObject"
SCHEME = {"classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
          "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
          "patientId": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
          "submissionSetPatientId": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
          "sourceId": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
          "author": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
          "folder": "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"}


def plain(change: Callable[[etree._Element], None]) -> bytes:
    """The plain fixture request, changed."""
    root = etree.fromstring(request("plain_one_document.xml")[0])
    change(root)
    return etree.tostring(root)


def one(root: etree._Element, path: str) -> etree._Element:
    [found] = root.xpath(path, namespaces=NS)
    return found


def remove(path: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        found = one(root, path)
        found.getparent().remove(found)
    return change


def set_value(path: str, value: str, attribute: str | None = None) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        found = one(root, path)
        if attribute:
            found.set(attribute, value)
        else:
            found.text = value
    return change


def slot(name: str) -> str:
    return f"{ENTRY}/rim:Slot[@name='{name}']/rim:ValueList/rim:Value"


def orphan_document(root: etree._Element) -> None:
    etree.SubElement(one(root, "//xdsb:ProvideAndRegisterDocumentSetRequest"), f"{{{NS['xdsb']}}}Document",
                     id="Orphan").text = "eA=="


def folder(root: etree._Element) -> None:
    objects = one(root, "//rim:RegistryObjectList")
    etree.SubElement(objects, f"{{{NS['rim']}}}RegistryPackage", id="Folder01")
    etree.SubElement(objects, f"{{{NS['rim']}}}Classification", id="Folder01-c", classifiedObject="Folder01",
                     classificationNode=SCHEME["folder"])


def second_submission_set_author(root: etree._Element) -> None:
    author = one(root, f"//rim:RegistryPackage/rim:Classification[@classificationScheme='{SCHEME['author']}']")
    author.addnext(etree.fromstring(etree.tostring(author)))


CASES = {
    "no document for the entry": (remove("//xdsb:Document"), "XDSMissingDocument"),
    "a document without entry": (orphan_document, "XDSMissingDocumentMetadata"),
    "another hash": (set_value(slot("hash"), "0" * 40), "XDSNonIdenticalHash"),
    "another size": (set_value(slot("size"), "96"), "XDSNonIdenticalSize"),
    "no classCode": (remove(f"{ENTRY}/rim:Classification[@classificationScheme='{SCHEME['classCode']}']"),
                     "XDSRegistryMetadataError"),
    "no creationTime": (remove(f"{ENTRY}/rim:Slot[@name='creationTime']"), "XDSRegistryMetadataError"),
    "creationTime not a DTM": (set_value(slot("creationTime"), "2024-05-02"), "XDSRegistryMetadataError"),
    "hash not hexadecimal": (set_value(slot("hash"), "not-a-sha1"), "XDSRegistryMetadataError"),
    "an unknown codingScheme": (set_value(f"{ENTRY}/rim:Classification[@classificationScheme='{SCHEME['typeCode']}']"
                                          f"/rim:Slot/rim:ValueList/rim:Value", "LOCAL-CODES"),
                                "XDSRegistryMetadataError"),
    "another patient on the entry": (set_value(f"{ENTRY}/rim:ExternalIdentifier[@identificationScheme="
                                               f"'{SCHEME['patientId']}']", "PAT-9^^^&1.3.6.1.4.1.21367.13.20.1000&ISO",
                                               "value"), "XDSPatientIdDoesNotMatch"),
    "a patientId without assigning authority": (
        set_value(f"//rim:ExternalIdentifier[@identificationScheme='{SCHEME['submissionSetPatientId']}']",
                  "PAT-1001", "value"), "XDSRegistryMetadataError"),
    "no HasMember": (remove("//rim:Association"), "XDSRegistryMetadataError"),
    "a folder": (folder, "XDSRegistryMetadataError"),
    "two SubmissionSet authors": (second_submission_set_author, "XDSRegistryMetadataError"),
    "a document not in base64": (set_value("//xdsb:Document", "*** not base64 ***"), "XDSRepositoryMetadataError"),
    "another wsa:Action": (set_value("//wsa:Action", "urn:ihe:iti:2007:RegisterDocumentSet-b"),
                           "XDSRepositoryMetadataError"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_broken_plain_request_gives_its_xds_code_only(case):
    change, code = CASES[case]
    assert codes(refused(plain(change))) == [code]


def test_the_metadata_error_names_what_is_missing():
    assert "classCode" in refused(plain(CASES["no classCode"][0])).message
    assert "creationTime" in refused(plain(CASES["no creationTime"][0])).message


def test_several_problems_are_all_reported():
    def broken(root: etree._Element) -> None:
        set_value(slot("size"), "1")(root)
        remove(f"//rim:ExternalIdentifier[@identificationScheme='{SCHEME['sourceId']}']")(root)
    error = refused(plain(broken))
    assert isinstance(error, MappingErrors) and error.message_id == "urn:uuid:5b3c3f0e-6a41-4a9b-9a57-0c1d2e3f4a01"
    assert sorted(codes(error)) == ["XDSNonIdenticalSize", "XDSRegistryMetadataError"]


def mtom(old: bytes, new: bytes) -> tuple[bytes, str]:
    body, content_type = request("mtom_two_documents.mime")
    assert old in body
    return body.replace(old, new), content_type


@pytest.mark.parametrize("old, new, code", [
    (b'href="cid:2.doc@example.org"', b'href="cid:3.doc@example.org"', "XDSMissingDocument"),
    (b'value="1.3.6.1.4.1.21367.2024.5.2.2002.2"', b'value="1.3.6.1.4.1.21367.2024.5.2.2002.1"',
     "XDSRegistryDuplicateUniqueIdInMessage"),
    (b'targetObject="urn:uuid:7a1d3c5e-2b4f-4a6c-8e0d-1f2a3b4c5d6e"', b'targetObject="OldDocument"',
     "XDSRegistryMetadataError"),
])
def test_a_broken_mtom_request_gives_its_xds_code_only(old, new, code):
    assert set(codes(refused(*mtom(old, new)))) == {code}


def test_a_request_that_is_not_soap_is_refused():
    body, _ = request("plain_one_document.xml")
    assert codes(refused(body, "text/xml")) == ["XDSRepositoryMetadataError"]
    assert codes(refused(b"<a/>")) == ["XDSRepositoryMetadataError"]
    assert codes(refused(b"<soap:Envelope")) == ["XDSRepositoryMetadataError"]


@pytest.mark.parametrize("path, value", [(slot("sourcePatientInfo") + "[4]", "PID-8|X"),
                                         (f"{ENTRY}/rim:Classification/rim:Slot[@name='authorPerson']/rim:ValueList"
                                          f"/rim:Value", "1234^Smith^John^^^^^^&1.2.3&ISO^Q")])
def test_what_fhir_cannot_say_is_refused_when_read(path, value):
    assert codes(refused(plain(set_value(path, value)))) == ["XDSRegistryMetadataError"]
