"""ITI-18 (FindDocuments, GetDocuments) and ITI-43 requests read into FHIR search values, and refused with
the right XDS error code."""
from __future__ import annotations

import pytest

from mappers.errors import MappingError
from mappers.xds import (DocumentRequest, MappingErrors, RetrieveRequest, StoredQuery, parse_retrieve,
                         parse_stored_query)

from .support import SOAP, codes, request

FIND = "find_documents_ins.xml"
GET = "get_documents_unique_id.xml"
RETRIEVE = "retrieve_two_documents.xml"
CLASSES = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"


def changed(name: str, old: str, new: str, count: int = 1) -> bytes:
    """The fixture request with the first `count` `old` replaced (-1: all)."""
    body = request(name)[0]
    assert old.encode() in body, old
    return body.replace(old.encode(), new.encode(), count)


def query_refused(body: bytes, content_type: str = SOAP) -> MappingError:
    with pytest.raises(MappingError) as caught:
        parse_stored_query(body, content_type)
    return caught.value


def retrieve_refused(body: bytes, content_type: str = SOAP) -> MappingError:
    with pytest.raises(MappingError) as caught:
        parse_retrieve(body, content_type)
    return caught.value


def test_find_documents_for_an_ins_nir_patient():
    query = parse_stored_query(*request(FIND))
    assert query == StoredQuery(
        message_id="urn:uuid:7d1e0a52-3c4b-4f6e-8a9d-1b2c3d4e5f18",
        query_id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d", name="FindDocuments", return_type="LeafClass",
        patient_id="1800175123456^^^&1.2.250.1.213.1.4.8&ISO^NH", patient="urn:oid:1.2.250.1.213.1.4.8|1800175123456",
        statuses=["current"], class_codes=[f"{CLASSES}|11", f"{CLASSES}|10"],
        type_codes=["http://loinc.org|11488-4"], creation_from="2024-01-01", creation_to="2024-06-01T12:00:00Z")


def test_find_documents_statuses_and_values_spread_over_several_value_elements():
    body = changed(FIND, f"<rim:Value>('{APPROVED}')</rim:Value>",
                   f"<rim:Value>('{APPROVED}',</rim:Value>"
                   "<rim:Value>'urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated')</rim:Value>")
    assert parse_stored_query(body, SOAP).statuses == ["current", "superseded"]


def test_get_documents_by_unique_id():
    query = parse_stored_query(*request(GET))
    assert (query.name, query.return_type, query.message_id) == (
        "GetDocuments", "ObjectRef", "urn:uuid:7d1e0a52-3c4b-4f6e-8a9d-1b2c3d4e5f19")
    assert query.unique_ids == ["urn:ietf:rfc:3986|urn:oid:1.2.250.1.213.4.1.2.3.20240502.1",
                                "urn:oid:1.2.250.1.213.4.1.2.3|DOC-2024-7"]
    assert query.patient is None and query.entry_uuids == []


def test_get_documents_by_entry_uuid():
    body = changed(GET, "$XDSDocumentEntryUniqueId", "$XDSDocumentEntryEntryUUID").replace(
        b"'1.2.250.1.213.4.1.2.3.20240502.1'", b"'urn:uuid:8E2F4A6C-1B3D-4F5A-9C7E-2D4F6A8C0E13'").replace(
        b"'1.2.250.1.213.4.1.2.3^DOC-2024-7'", b"'urn:uuid:8e2f4a6c-1b3d-4f5a-9c7e-2d4f6a8c0e14'")
    query = parse_stored_query(body, SOAP)
    assert query.entry_uuids == ["urn:uuid:8e2f4a6c-1b3d-4f5a-9c7e-2d4f6a8c0e13",
                                 "urn:uuid:8e2f4a6c-1b3d-4f5a-9c7e-2d4f6a8c0e14"]
    assert query.unique_ids == []


def test_an_extension_with_a_token_separator_is_escaped():
    body = changed(GET, "^DOC-2024-7'", "^DOC|2024,7'")
    assert parse_stored_query(body, SOAP).unique_ids[1] == r"urn:oid:1.2.250.1.213.4.1.2.3|DOC\|2024\,7"


@pytest.mark.parametrize("name, old, new, expected", [
    (FIND, "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d", "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9",
     ["XDSUnknownStoredQuery"]),
    (FIND, 'name="$XDSDocumentEntryPatientId"', 'name="$XDSDocumentEntryPatientIdX"',
     ["XDSRegistryError", "XDSStoredQueryMissingParam"]),
    (FIND, 'name="$XDSDocumentEntryStatus"', 'name="$XDSDocumentEntryFormatCode"',
     ["XDSRegistryError", "XDSStoredQueryMissingParam"]),
    (FIND, "<rim:Value>20240101</rim:Value>", "<rim:Value>20240101</rim:Value><rim:Value>20240102</rim:Value>",
     ["XDSStoredQueryParamNumber"]),
    (FIND, "'1800175123456^^^&amp;1.2.250.1.213.1.4.8&amp;ISO^NH'", "'1800175123456^^^INS-NIR'",
     ["XDSRegistryError"]),
    (FIND, "'1800175123456^^^", "1800175123456^^^", ["XDSRegistryError"]),
    (FIND, "StatusType:Approved", "StatusType:Submitted", ["XDSRegistryError"]),
    (FIND, "'11488-4^^2.16.840.1.113883.6.1'", "'11488-4^^LOINC'", ["XDSRegistryError"]),
    (FIND, "<rim:Value>20240101</rim:Value>", "<rim:Value>20241301</rim:Value>", ["XDSRegistryError"]),
    (FIND, 'returnType="LeafClass"', 'returnType="RegistryObject"', ["XDSRegistryError"]),
    (FIND, "urn:ihe:iti:2007:RegistryStoredQuery<", "urn:ihe:iti:2007:RetrieveDocumentSet<", ["XDSRegistryError"]),
    (GET, "$XDSDocumentEntryUniqueId", "$XDSDocumentEntryLogicalID", ["XDSRegistryError",
                                                                      "XDSStoredQueryMissingParam"]),
    (GET, "'1.2.250.1.213.4.1.2.3^DOC-2024-7'", "'DOC-2024-7'", ["XDSRegistryError"]),
], ids=["unknown query", "no patient", "no status", "two creation times", "no ISO authority", "unquoted CX",
        "unknown status", "unknown coding scheme", "not a date", "return type", "action", "no GetDocuments key",
        "unique id not an OID"])
def test_a_broken_stored_query_is_refused(name, old, new, expected):
    error = query_refused(changed(name, old, new))
    assert isinstance(error, MappingErrors)
    assert codes(error) == expected
    assert error.message_id.startswith("urn:uuid:7d1e0a52")


def test_get_documents_refuses_both_keys():
    body = changed(GET, "</rim:AdhocQuery>", '<rim:Slot name="$XDSDocumentEntryEntryUUID"><rim:ValueList><rim:Value>'
                   "('urn:uuid:8e2f4a6c-1b3d-4f5a-9c7e-2d4f6a8c0e13')</rim:Value></rim:ValueList></rim:Slot>"
                   "</rim:AdhocQuery>")
    assert codes(query_refused(body)) == ["XDSStoredQueryParamNumber"]


def test_a_stored_query_without_an_adhoc_query_is_refused():
    body = changed(FIND, "rim:AdhocQuery ", "rim:Other ").replace(b"</rim:AdhocQuery>", b"</rim:Other>")
    assert codes(query_refused(body)) == ["XDSRegistryError"]


def test_a_malformed_value_list_is_refused():
    body = changed(FIND, "('11488-4^^2.16.840.1.113883.6.1')", "('11488-4^^2.16.840.1.113883.6.1',)")
    assert codes(query_refused(body)) == ["XDSRegistryError"]


def test_retrieve_two_documents():
    assert parse_retrieve(*request(RETRIEVE)) == RetrieveRequest(
        message_id="urn:uuid:7d1e0a52-3c4b-4f6e-8a9d-1b2c3d4e5f20", documents=[
            DocumentRequest("1.2.250.1.213.4.99", "1.2.250.1.213.4.1.2.3.20240502.1",
                            "urn:ietf:rfc:3986|urn:oid:1.2.250.1.213.4.1.2.3.20240502.1"),
            DocumentRequest("1.2.250.1.213.4.99", "1.2.250.1.213.4.1.2.3^DOC-2024-7",
                            "urn:oid:1.2.250.1.213.4.1.2.3|DOC-2024-7", "urn:oid:1.2.250.1.213.4.100")])


def test_retrieve_mtom_wrapped():
    wanted = parse_retrieve(*request("mtom_retrieve_two_documents.mime"))
    assert wanted.message_id == "urn:uuid:7d1e0a52-3c4b-4f6e-8a9d-1b2c3d4e5f21"
    assert [(d.repository_unique_id, d.identifier) for d in wanted.documents] == [
        ("1.2.250.1.213.4.99", "urn:ietf:rfc:3986|urn:oid:1.2.250.1.213.4.1.2.3.20240502.1"),
        ("1.2.250.1.213.4.99", "urn:oid:1.2.250.1.213.4.1.2.3|DOC-2024-7")]


@pytest.mark.parametrize("old, new, expected", [
    ("<xdsb:RepositoryUniqueId>1.2.250.1.213.4.99</xdsb:RepositoryUniqueId>\n        <xdsb:DocumentUniqueId>"
     "1.2.250.1.213.4.1.2.3.20240502.1", "<xdsb:DocumentUniqueId>1.2.250.1.213.4.1.2.3.20240502.1",
     ["XDSRepositoryError"]),
    (">1.2.250.1.213.4.99</xdsb:RepositoryUniqueId>\n        <xdsb:DocumentUniqueId>1.2",
     ">repository</xdsb:RepositoryUniqueId>\n        <xdsb:DocumentUniqueId>1.2", ["XDSUnknownRepositoryId"]),
    ("1.2.250.1.213.4.1.2.3^DOC-2024-7", "DOC-2024-7", ["XDSDocumentUniqueIdError"]),
    ("urn:ihe:iti:2007:RetrieveDocumentSet<", "urn:ihe:iti:2007:RegistryStoredQuery<", ["XDSRepositoryError"]),
    ("xdsb:DocumentRequest>", "xdsb:Request>", ["XDSRepositoryError"]),
    (">1.2.250.1.213.4.99<", ">1.2.250.1.213.4.099<", ["XDSUnknownRepositoryId"] * 2),
], ids=["no repository", "repository not an OID", "document not an OID", "action", "no DocumentRequest",
                                                                     "each request checked"])
def test_a_broken_retrieve_is_refused(old, new, expected):
    error = retrieve_refused(changed(RETRIEVE, old, new, -1 if new == "xdsb:Request>" or len(expected) > 1 else 1))
    assert isinstance(error, MappingErrors) and codes(error) == expected
    assert error.message_id == "urn:uuid:7d1e0a52-3c4b-4f6e-8a9d-1b2c3d4e5f20"


XXE = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE soap:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>'


@pytest.mark.parametrize("name, parse, code", [
    (FIND, parse_stored_query, "XDSRegistryError"), (GET, parse_stored_query, "XDSRegistryError"),
    (RETRIEVE, parse_retrieve, "XDSRepositoryError"),
    ("mtom_retrieve_two_documents.mime", parse_retrieve, "XDSRepositoryError")])
def test_a_doctype_is_refused(name, parse, code):
    body, content_type = request(name)
    body = body.replace(b'<?xml version="1.0" encoding="UTF-8"?>', XXE.encode(), 1)
    assert b"<!DOCTYPE" in body
    with pytest.raises(MappingError) as caught:
        parse(body, content_type)
    assert codes(caught.value) == [code] and "DOCTYPE" in caught.value.message


def test_not_xml_or_not_soap_is_refused():
    assert codes(query_refused(b"<soap:Envelope", SOAP)) == ["XDSRegistryError"]
    assert codes(query_refused(request(FIND)[0], "text/xml")) == ["XDSRegistryError"]
    assert codes(retrieve_refused(b"not xml", SOAP)) == ["XDSRepositoryError"]
