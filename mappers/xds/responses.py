"""The SOAP answers: ITI-41 RegistryResponse, ITI-43 RetrieveDocumentSetResponse (MTOM), ITI-18
AdhocQueryResponse (LeafClass), each with its WS-Addressing Action and RelatesTo the request's MessageID."""
from __future__ import annotations

from lxml import etree

from ..errors import MappingError
from .extrinsic import extrinsic_object
from .from_fhir import document_entry, unique_id
from .provide import MappingErrors
from .soap import NS, envelope, mtom, q, serialize
from .tables import SCHEMES, table

PROVIDE_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
UPDATE_ACTION = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
RETRIEVE_ACTION = "urn:ihe:iti:2007:RetrieveDocumentSetResponse"
QUERY_ACTION = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
STATUS = {"success": "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success",
          "partial": "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess",
          "failure": "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"}
SEVERITY = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:"


def registry_response(errors: list[MappingError] | None = None, request_id: str | None = None,
                      action: str = PROVIDE_ACTION) -> bytes:
    """The ITI-41 answer (ITI-57: `action` UPDATE_ACTION): Success without errors, else Failure listing each
    (MappingErrors are expanded). It relates to `request_id`, else to the MessageID of the request
    MappingErrors were found in."""
    errors = errors or []
    relates_to = request_id or next((e.message_id for e in errors if isinstance(e, MappingErrors)), None)
    response = _status(etree.Element(q("rs", "RegistryResponse"), nsmap={"rs": NS["rs"]}), errors, [], False)
    return serialize(envelope(action, relates_to, response))


def retrieve_response(documents: list[tuple[dict, bytes]], repository_unique_id: str, request_id: str | None = None,
                      errors: list[MappingError] | None = None) -> tuple[bytes, str]:
    """The ITI-43 answer as MTOM: for each (DocumentReference, bytes) a DocumentResponse whose Document is a
    MIME part; `errors` (documents not found: XDSDocumentUniqueIdError) make it PartialSuccess, or Failure
    without any document. Returns the body and its Content-Type."""
    root = etree.Element(q("xdsb", "RetrieveDocumentSetResponse"), nsmap={"xdsb": NS["xdsb"], "rs": NS["rs"]})
    registry = etree.SubElement(root, q("rs", "RegistryResponse"))
    _status(registry, errors or [], [], partial=bool(documents))
    attachments = []
    for n, (document, data) in enumerate(documents, 1):
        attachment = (document.get("content") or [{}])[0].get("attachment") or {}
        cid = f"document{n}.{repository_unique_id}@xds"
        response = etree.SubElement(root, q("xdsb", "DocumentResponse"))
        for name, value in (("RepositoryUniqueId", repository_unique_id),
                            ("DocumentUniqueId", unique_id(document.get("masterIdentifier") or {})),
                            ("mimeType", attachment.get("contentType", "application/octet-stream"))):
            etree.SubElement(response, q("xdsb", name)).text = value
        content = etree.SubElement(response, q("xdsb", "Document"))
        etree.SubElement(content, q("xop", "Include"), nsmap={"xop": NS["xop"]}, href=f"cid:{cid}")
        attachments.append((cid, attachment.get("contentType", "application/octet-stream"), data))
    return mtom(envelope(RETRIEVE_ACTION, request_id, root), attachments)


def query_failure(errors: list[MappingError], request_id: str | None = None) -> bytes:
    """The ITI-18 answer to a query that cannot be run: Failure with its errors, no objects."""
    root = etree.Element(q("query", "AdhocQueryResponse"), nsmap={"query": NS["query"], "rs": NS["rs"],
                                                                   "rim": NS["rim"]})
    _status(root, errors, [], False)
    etree.SubElement(root, q("rim", "RegistryObjectList"))
    return serialize(envelope(QUERY_ACTION, request_id, root))


def stored_query_response(document_references: list[dict], patient_id_cx: str,
                          repository_unique_id: str | None = None, request_id: str | None = None) -> bytes:
    """The ITI-18 answer (LeafClass): an ExtrinsicObject per DocumentReference of the patient (XDS id
    `patient_id_cx`). A DocumentReference that has no XDS form is left out with a warning (PartialSuccess)."""
    root = etree.Element(q("query", "AdhocQueryResponse"), nsmap={"query": NS["query"], "rs": NS["rs"],
                                                                   "rim": NS["rim"]})
    objects, warnings = [], []
    for document in document_references:
        where = f"DocumentReference/{document.get('id')}"
        status = SCHEMES["availabilityStatus"].get(document.get("status"))
        try:
            if status is None:
                raise MappingError(f"{where}: status {document.get('status')!r} has no availabilityStatus",
                                   "XDSRegistryError", where)
            objects.append(extrinsic_object(document_entry(document, patient_id_cx), status, repository_unique_id))
        except MappingError as e:
            warnings.append(e)
    _status(root, [], warnings, False)
    etree.SubElement(root, q("rim", "RegistryObjectList")).extend(objects)
    return serialize(envelope(QUERY_ACTION, request_id, root))


def _status(response: etree._Element, errors: list[MappingError], warnings: list[MappingError],
            partial: bool) -> etree._Element:
    """Sets `status` (Failure with errors unless `partial`, PartialSuccess, Success) and adds the RegistryErrorList."""
    errors, warnings = _expanded(errors), _expanded(warnings)
    status = "success" if not (errors or warnings) else "partial" if warnings or partial else "failure"
    response.set("status", STATUS[status])
    if errors or warnings:
        listed = etree.SubElement(response, q("rs", "RegistryErrorList"),
                                  highestSeverity=SEVERITY + ("Error" if errors else "Warning"))
        for error, severity in [(e, "Error") for e in errors] + [(w, "Warning") for w in warnings]:
            _registry_error(listed, error, severity)
    return response


def _expanded(errors: list[MappingError]) -> list[MappingError]:
    return [item for e in errors for item in (e.errors if isinstance(e, MappingErrors) else [e])]


def _registry_error(parent: etree._Element, error: MappingError, severity: str) -> None:
    known = table("errors")
    code = error.code if error.code in known["codes"] else known["fallback"]
    context = error.message if code == error.code else f"{error.message} ({error.code})"
    attributes = {"errorCode": code, "codeContext": context, "severity": SEVERITY + severity}
    if error.location:
        attributes["location"] = error.location
    etree.SubElement(parent, q("rs", "RegistryError"), attributes)
