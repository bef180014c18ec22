"""IHE XDS.b to FHIR R4 and back: a Document Repository/Registry facade over the MHD Document Recipient.

Ingest (ITI-41 Provide and Register Document Set-b), in this order:
1. `parse_provide_and_register(body, content_type)` reads the SOAP 1.2 request (plain or MTOM/XOP) and checks
   it: a Submission, or MappingError (MappingErrors, with the request's MessageID, once the Envelope is read)
   carrying XDS error codes;
2. `to_fhir(submission)` gives the transaction Bundle an MHD ITI-65 Provide Document Bundle is, to be run through
   the same transaction and ITI-65 checks: its Patient is a conditional reference, so no match (412) is
   XDSUnknownPatientId; mhd.py's issues carry their XDS code in details.text;
3. `registry_response(errors, submission.message_id)` answers (SOAP_CONTENT_TYPE): Success, or Failure listing
   the errors (a MappingErrors relates the answer to its request by itself).
ITI-57 Update Document Set (`is_update_document_set`), availability status updates only (the DMP's deletion):
`parse_update_document_set` then `update_to_fhir`, a conditional JSON Patch of each DocumentReference's
status; answered by `registry_response(errors, request.message_id, UPDATE_ACTION)`.
Pull: `parse_stored_query` (ITI-18 FindDocuments / GetDocuments) and `parse_retrieve` (ITI-43) read the
requests into FHIR search values (StoredQuery, RetrieveRequest); `retrieve_response` (ITI-43, MTOM) and
`stored_query_response` (ITI-18 LeafClass) answer from stored DocumentReferences, through the reverse mapping
`document_entry`.
"""
from .from_fhir import document_entry
from .metadata import Author, Code, DocumentEntry, Submission
from .provide import MappingErrors, parse_provide_and_register
from .pull import DocumentRequest, RetrieveRequest, StoredQuery, parse_retrieve, parse_stored_query
from .responses import (PROVIDE_ACTION, UPDATE_ACTION, query_failure, registry_response, retrieve_response,
                        stored_query_response)
from .soap import SOAP_CONTENT_TYPE
from .to_fhir import to_fhir
from .update import (StatusUpdate, UpdateRequest, is_update_document_set, parse_update_document_set,
                     update_to_fhir)

__all__ = ["Author", "Code", "DocumentEntry", "DocumentRequest", "MappingErrors", "PROVIDE_ACTION",
           "RetrieveRequest", "SOAP_CONTENT_TYPE", "StatusUpdate", "StoredQuery", "Submission", "UPDATE_ACTION",
           "UpdateRequest", "document_entry", "is_update_document_set", "parse_provide_and_register", "parse_retrieve",
           "parse_stored_query", "parse_update_document_set", "query_failure", "registry_response",
           "retrieve_response", "stored_query_response", "to_fhir", "update_to_fhir"]
