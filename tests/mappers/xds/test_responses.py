"""The SOAP answers read back with lxml: ITI-41 RegistryResponse, ITI-43 (MTOM) and ITI-18."""
from __future__ import annotations

from lxml import etree

from mappers.errors import MappingError
from mappers.xds import (MappingErrors, parse_provide_and_register, registry_response, retrieve_response,
                         stored_query_response, to_fhir)
from mappers.xds.soap import read_message

from .support import refused, request

NS = {"soap": "http://www.w3.org/2003/05/soap-envelope", "wsa": "http://www.w3.org/2005/08/addressing",
      "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0", "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
      "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0", "xdsb": "urn:ihe:iti:xds-b:2007",
      "xop": "http://www.w3.org/2004/08/xop/include"}
RESPONSE_STATUS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"
PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
REQUEST_ID = "urn:uuid:5b3c3f0e-6a41-4a9b-9a57-0c1d2e3f4a02"
REPOSITORY = "1.2.250.1.213.4.99"


def parsed(xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    assert root.tag == f"{{{NS['soap']}}}Envelope"
    return root


def text(root: etree._Element, path: str) -> str:
    [found] = root.xpath(path, namespaces=NS)
    return found if isinstance(found, str) else found.text


def test_a_success_relates_to_the_request():
    root = parsed(registry_response(None, REQUEST_ID))
    assert text(root, "/soap:Envelope/soap:Header/wsa:Action") == \
        "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
    assert text(root, "/soap:Envelope/soap:Header/wsa:RelatesTo") == REQUEST_ID
    assert text(root, "/soap:Envelope/soap:Header/wsa:MessageID").startswith("urn:uuid:")
    assert text(root, "/soap:Envelope/soap:Body/rs:RegistryResponse/@status") == RESPONSE_STATUS + "Success"
    assert root.xpath("//rs:RegistryErrorList", namespaces=NS) == []


def test_an_answer_to_a_message_without_id_relates_to_nothing():
    root = parsed(registry_response([MappingError("not XML", "XDSRepositoryMetadataError")]))
    assert root.xpath("//wsa:RelatesTo", namespaces=NS) == []
    assert text(root, "//rs:RegistryError/@errorCode") == "XDSRepositoryMetadataError"


def test_a_failure_lists_each_error():
    body, content_type = request("mtom_two_documents.mime")
    duplicate = body.replace(b'value="1.3.6.1.4.1.21367.2024.5.2.2002.2"', b'value="1.3.6.1.4.1.21367.2024.5.2.2002.1"')
    problems = refused(duplicate, content_type)
    assert isinstance(problems, MappingErrors)
    other = MappingError("the store is down", "service-unavailable")
    root = parsed(registry_response([problems, other]))
    assert text(root, "/soap:Envelope/soap:Header/wsa:RelatesTo") == REQUEST_ID  # the MessageID of the request
    response = root.xpath("/soap:Envelope/soap:Body/rs:RegistryResponse", namespaces=NS)[0]
    assert response.get("status") == RESPONSE_STATUS + "Failure"
    [listed] = response.xpath("rs:RegistryErrorList", namespaces=NS)
    assert listed.get("highestSeverity") == ERROR
    errors = [e.attrib for e in listed.xpath("rs:RegistryError", namespaces=NS)]
    assert [(e["errorCode"], e.get("location")) for e in errors] == [
        ("XDSRegistryDuplicateUniqueIdInMessage", "Document01"),
        ("XDSRegistryDuplicateUniqueIdInMessage", "Document02"),
        ("XDSRepositoryError", None)]
    assert {e["severity"] for e in errors} == {ERROR}
    assert "1.3.6.1.4.1.21367.2024.5.2.2002.1" in errors[0]["codeContext"]
    assert errors[2]["codeContext"] == "the store is down (service-unavailable)"


def documents(name: str) -> tuple[list[dict], dict[str, bytes]]:
    submission = parse_provide_and_register(*request(name))
    entries = to_fhir(submission)["entry"]
    references = [e["resource"] for e in entries if e["resource"]["resourceType"] == "DocumentReference"]
    return references, {entry.unique_id: submission.contents[entry.entry_id] for entry in submission.documents}


def test_a_retrieve_response_carries_the_documents_as_mime_parts():
    references, contents = documents("mtom_two_documents.mime")
    body, content_type = retrieve_response([(r, contents[r["masterIdentifier"]["value"][8:]]) for r in references],
                                           REPOSITORY, REQUEST_ID)
    assert content_type.startswith('multipart/related; type="application/xop+xml"')
    envelope, parts = read_message(body, content_type)
    assert text(envelope, "//wsa:Action") == "urn:ihe:iti:2007:RetrieveDocumentSetResponse"
    assert text(envelope, "//rs:RegistryResponse/@status") == RESPONSE_STATUS + "Success"
    answers = envelope.xpath("//xdsb:DocumentResponse", namespaces=NS)
    assert len(answers) == 2
    for answer in answers:
        unique = text(answer, "xdsb:DocumentUniqueId")
        assert text(answer, "xdsb:RepositoryUniqueId") == REPOSITORY
        href = text(answer, "xdsb:Document/xop:Include/@href")
        assert parts[href.removeprefix("cid:")] == contents[unique]
    assert [text(a, "xdsb:mimeType") for a in answers] == ["application/pdf", "text/plain"]
    assert b"\x00\xff--not-a-boundary\r\n" in parts[text(answers[0], "xdsb:Document/xop:Include/@href")[4:]]


def test_a_retrieve_response_with_missing_documents():
    references, contents = documents("plain_one_document.xml")
    missing = [MappingError("1.2.3.4.5 is not in this repository", "XDSDocumentUniqueIdError", "1.2.3.4.5")]
    body, content_type = retrieve_response([(references[0], next(iter(contents.values())))], REPOSITORY, None, missing)
    envelope, _ = read_message(body, content_type)
    assert text(envelope, "//rs:RegistryResponse/@status") == PARTIAL
    assert text(envelope, "//rs:RegistryError/@errorCode") == "XDSDocumentUniqueIdError"
    body, content_type = retrieve_response([], REPOSITORY, None, missing)
    envelope, parts = read_message(body, content_type)
    assert text(envelope, "//rs:RegistryResponse/@status") == RESPONSE_STATUS + "Failure" and parts == {}


def test_a_stored_query_response_leaves_out_what_has_no_xds_form():
    references, _ = documents("french_ins_jdv.xml")
    superseded = {**references[0], "status": "superseded"}
    local = {**references[0], "id": "local", "type": {"coding": [{"system": "http://example.org/types", "code": "x"}]}}
    root = parsed(stored_query_response([references[0], superseded, local], "1800175123456^^^&1.2.250.1.213.1.4.8&ISO",
                                        REPOSITORY, REQUEST_ID))
    assert text(root, "//wsa:Action") == "urn:ihe:iti:2007:RegistryStoredQueryResponse"
    response = root.xpath("/soap:Envelope/soap:Body/query:AdhocQueryResponse", namespaces=NS)[0]
    assert response.get("status") == PARTIAL
    assert text(response, "rs:RegistryErrorList/@highestSeverity").endswith(":Warning")
    assert text(response, "rs:RegistryErrorList/rs:RegistryError/@location") == "DocumentReference/local"
    objects = response.xpath("rim:RegistryObjectList/rim:ExtrinsicObject", namespaces=NS)
    assert [o.get("status").rpartition(":")[2] for o in objects] == ["Approved", "Deprecated"]
    assert text(objects[0], "rim:Slot[@name='repositoryUniqueId']/rim:ValueList/rim:Value") == REPOSITORY
