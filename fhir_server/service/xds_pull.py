"""XDS.b pull for hospital systems that speak it: ITI-18 Registry Stored Query (FindDocuments, GetDocuments)
answered from the DocumentReference search, ITI-43 Retrieve Document Set from the documents' Binaries. Both run
under the caller's access rules (what they may not see is not found) and answer in SOAP (mappers/xds)."""
from __future__ import annotations

from mappers import xds
from mappers.errors import MappingError

from ..errors import FhirError
from ..access.membership import document_binaries
from .resources import ResourceService
from .search import SearchContext, search_bundle

MAX_DOCUMENTS = 1000  # the most entries a stored query answers


def stored_query(context: SearchContext, body: bytes, content_type: str, repository_id: str) -> tuple[bytes, str]:
    """(the AdhocQueryResponse, the query as FHIR search parameters for the audit trail)."""
    message_id, items = None, []
    try:
        query = xds.parse_stored_query(body, content_type)
        message_id = query.message_id
        items = _search_items(query)
        bundle = search_bundle(context, "DocumentReference", [*items, ("_count", str(MAX_DOCUMENTS))], strict=True)
    except MappingError as error:
        return xds.query_failure([error], getattr(error, "message_id", message_id)), _query_text(items)
    except FhirError as error:
        return xds.query_failure([MappingError(error.diagnostics, "XDSRegistryError")], message_id), _query_text(items)
    documents = [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]
    return xds.stored_query_response(documents, query.patient_id or "", repository_id, message_id), _query_text(items)


def _search_items(query) -> list[tuple[str, str]]:
    if query.unique_ids:
        return [("identifier", ",".join(query.unique_ids))]
    if query.entry_uuids:
        raise MappingError("GetDocuments by entryUUID is not supported here: ask by $XDSDocumentEntryUniqueId",
                           "XDSRegistryError")
    items = [("patient.identifier", query.patient)]
    if query.statuses:
        items.append(("status", ",".join(query.statuses)))
    if query.class_codes:
        items.append(("category", ",".join(query.class_codes)))
    if query.type_codes:
        items.append(("type", ",".join(query.type_codes)))
    if query.creation_from:
        items.append(("creation", f"ge{query.creation_from}"))
    if query.creation_to:
        items.append(("creation", f"lt{query.creation_to}"))
    return items


def _query_text(items: list[tuple[str, str]]) -> str:
    return "DocumentReference?" + "&".join(f"{k}={v}" for k, v in items)


def retrieve(service: ResourceService, context: SearchContext, body: bytes, content_type: str,
             repository_id: str) -> tuple[bytes, str]:
    """The RetrieveDocumentSetResponse (MTOM) and its Content-Type."""
    try:
        request = xds.parse_retrieve(body, content_type)
    except MappingError as error:
        return xds.retrieve_response([], repository_id, getattr(error, "message_id", None), [error])
    found, errors = [], []
    for wanted in request.documents:
        document = _document(context, wanted.identifier) if wanted.repository_unique_id == repository_id else None
        content = _content(service, document) if document else None
        if content is None:
            errors.append(MappingError(f"Document {wanted.unique_id} is not in repository {repository_id}",
                                       "XDSDocumentUniqueIdError", wanted.unique_id))
        else:
            found.append((document, content))
    return xds.retrieve_response(found, repository_id, request.message_id, errors)


def _document(context: SearchContext, identifier: str) -> dict | None:
    bundle = search_bundle(context, "DocumentReference", [("identifier", identifier), ("_count", "1")], strict=True)
    matches = [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]
    return matches[0] if matches else None


def _content(service: ResourceService, document: dict) -> bytes | None:
    binaries = document_binaries(document)
    if not binaries:
        return None
    try:
        return service.content(service.read("Binary", binaries[0]))
    except FhirError:
        return None
