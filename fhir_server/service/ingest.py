"""`$ingest`: a practitioner's software pushes in its own format (HL7 v2, CDA R2, IHE XDS.b ITI-41 and ITI-57,
or FHIR), the mapper (mappers/) turns it into one FHIR transaction, which is stored like any other
(validation, the MHD checks, the access rules, the document lifecycle, the audit trail), and the answer is in
the sender's own format: an HL7 ACK, an XDS RegistryResponse, a FHIR transaction-response (or
OperationOutcome) for CDA and FHIR.
"""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode
from dataclasses import dataclass

from mappers import cda, hl7v2, xds
from mappers.errors import MappingError

from ..access.consents import RPPS
from ..access.policy import WITHDRAWN, RecordAccess
from ..errors import BadRequest, DocumentRefused, FhirError, Unprocessable, UnsupportedMediaType
from ..formats.fhir_json import dumps, loads
from ..storage.resources import ResourceStore
from .search import matching

FHIR_JSON = "application/fhir+json"
HL7_V2 = "application/hl7-v2"
# what an answer is: (body, content type, HTTP status)
Answer = tuple[bytes, str, int]
# runs a transaction Bundle: the transaction-response, or raises FhirError
Transact = Callable[[dict], dict]


@dataclass(frozen=True)
class Format:
    """One format the ingest endpoint and the import command take."""

    name: str
    media_types: tuple[str, ...]
    sniff: Callable[[bytes], bool]  # does this body look like the format (when the media type is generic)?
    ingest: Callable[[bytes, str, Transact], Answer]
    # a push sent again is accepted without writing (HL7 v2 and CDA senders resend), rather than refused as a
    # duplicate (XDS: XDSDuplicateUniqueIdInRegistry, by the MHD checks)
    resend_accepted: bool = True


def already_stored(store: ResourceStore, rules: RecordAccess, bundle: dict) -> bool:
    """Whether every document of a mapped push is stored already (by its unique id, masterIdentifier): a
    message or document sent again is then answered as accepted, and nothing is written twice. A withdrawal
    (HL7 v2 deletion) is there already once the document is withdrawn."""
    documents = [e.get("resource") for e in bundle.get("entry") or []
                 if (e.get("resource") or {}).get("resourceType") == "DocumentReference"]
    return bool(documents) and all(_stored(store, rules, document) for document in documents)


def _stored(store: ResourceStore, rules: RecordAccess, document: dict) -> bool:
    master = document.get("masterIdentifier") or {}
    if not (master.get("system") and master.get("value")):
        return False
    criteria = [("identifier", f"{master['system']}|{master['value']}")]
    if document.get("status") == WITHDRAWN:
        criteria.append(("status", WITHDRAWN))
    return bool(matching(store, rules, "DocumentReference", urlencode(criteria), limit=1))


def document_authors(bundle: dict) -> tuple[str, ...]:
    """The professionals (IDNPS) a mapped push names as its documents' authors: the IDNPS identifiers of
    each DocumentReference's authors, given by identifier or as contained Practitioners."""
    found: dict[str, None] = {}
    for entry in bundle.get("entry") or []:
        document = entry.get("resource") or {}
        if document.get("resourceType") != "DocumentReference":
            continue
        contained = {f"#{r.get('id')}": r for r in document.get("contained") or [] if isinstance(r, dict)}
        for author in document.get("author") or []:
            named = contained.get(author.get("reference", ""), {})
            named = contained.get((named.get("practitioner") or {}).get("reference", ""), named)  # a role's person
            for identifier in [author.get("identifier") or {}, *(named.get("identifier") or [])]:
                if identifier.get("system") == RPPS and identifier.get("value"):
                    found[identifier["value"]] = None
    return tuple(found)


def _hl7v2(body: bytes, content_type: str, transact: Transact) -> Answer:
    warnings: list[MappingError] = []
    try:
        transact(hl7v2.to_fhir(body, warnings))
        return hl7v2.encode(hl7v2.ack(body, None, warnings=warnings)), HL7_V2, 200
    except MappingError as error:
        return hl7v2.encode(hl7v2.ack(body, error)), HL7_V2, 400
    except FhirError as error:
        return hl7v2.encode(hl7v2.ack(body, hl7_refusal(error))), HL7_V2, error.status


def _cda(body: bytes, content_type: str, transact: Transact) -> Answer:
    try:
        bundle = cda.to_fhir(body)
    except MappingError as error:
        raise _unprocessable(error)
    response = transact(bundle)
    created = any(str(e.get("response", {}).get("status", "")).startswith("201") for e in response.get("entry", []))
    return _json(response), FHIR_JSON, 201 if created else 200


def _xds(body: bytes, content_type: str, transact: Transact) -> Answer:
    """ITI-41 Provide and Register, or ITI-57 Update Document Set (an availability status: the DMP's deletion)."""
    update = xds.is_update_document_set(body)
    action = xds.UPDATE_ACTION if update else xds.PROVIDE_ACTION
    message_id = None
    try:
        if update:
            request = xds.parse_update_document_set(body, content_type)
            message_id, bundle = request.message_id, xds.update_to_fhir(request)
        else:
            submission = xds.parse_provide_and_register(body, content_type)
            message_id, bundle = submission.message_id, xds.to_fhir(submission)
        transact(bundle)
        return xds.registry_response(None, message_id, action), xds.SOAP_CONTENT_TYPE, 200
    except MappingError as error:
        return xds.registry_response([error], message_id, action), xds.SOAP_CONTENT_TYPE, 200
    except FhirError as error:
        problems = [MappingError(issue.get("diagnostics", ""), code=_xds_code(issue, error.status))
                    for issue in error.outcome().get("issue", [])]
        return xds.registry_response(problems, message_id, action), xds.SOAP_CONTENT_TYPE, 200


def _fhir(body: bytes, content_type: str, transact: Transact) -> Answer:
    try:
        bundle = loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"The body is not FHIR JSON: {error}", code="structure")
    return _json(transact(bundle)), FHIR_JSON, 200


FORMATS = (
    Format("hl7v2", (HL7_V2, "application/hl7-v2+er7", "x-application/hl7-v2+er7"),
           lambda body: body.lstrip(b"\x0b").startswith(b"MSH"), _hl7v2),
    Format("xds", ("multipart/related", "application/soap+xml"),
           lambda body: b"ProvideAndRegisterDocumentSetRequest" in body[:65536] or xds.is_update_document_set(body),
           _xds, resend_accepted=False),
    Format("cda", ("application/cda+xml", "application/hl7-cda+xml"),
           lambda body: b"ClinicalDocument" in body[:4096] and b"urn:hl7-org:v3" in body[:4096], _cda),
    Format("fhir", (FHIR_JSON, "application/json"), lambda body: body.lstrip().startswith(b"{"), _fhir),
)
GENERIC = ("application/xml", "text/xml", "text/plain", "application/octet-stream", "")


def format_of(body: bytes, content_type: str) -> Format:
    """The format a body is in, by its media type, or by its content when the media type is generic."""
    media = content_type.split(";")[0].strip().lower()
    for candidate in FORMATS:
        if media in candidate.media_types:
            return candidate
    if media in GENERIC:
        for candidate in FORMATS:
            if candidate.sniff(body):
                return candidate
    names = ", ".join(t for f in FORMATS for t in f.media_types)
    raise UnsupportedMediaType(f"$ingest takes {names} (or XML/text whose content says which)")


def ingest(body: bytes, content_type: str, transact: Transact, store: ResourceStore, rules: RecordAccess) -> Answer:
    """Maps, stores as one transaction and answers in the sender's format (see the module docstring); an HL7
    v2 or CDA push whose documents are all stored already writes nothing and is answered as accepted."""
    found = format_of(body, content_type)

    def once(bundle: dict) -> dict:
        if found.resend_accepted and already_stored(store, rules, bundle):
            return {"resourceType": "Bundle", "type": "transaction-response", "entry": []}
        return transact(bundle)
    return found.ingest(body, content_type, once)


def _unprocessable(error: MappingError) -> FhirError:
    where = f" (at {error.location})" if error.location else ""
    return Unprocessable(f"{error.message}{where}", code="invalid")


# a refusal of a step of a document's life -> its code in the ANS table applicationErrorCondition (HL7 v2 ERR-5)
APPLICATION_ERRORS = {"not-current": "900", "not-author": "901", "unknown": "906", "other-record": "906"}


def hl7_refusal(error: FhirError) -> MappingError:
    """A refusal of the store as an HL7 v2 application error (table 0357: 207), with its ANS code in ERR-5:
    900 the document replaced or deleted is not the latest version, 901 the sender is not its author, 902
    the patient matches no single record, 906 any other reason (an unknown document...)."""
    text = "; ".join(str(i.get("diagnostics", "")) for i in error.outcome().get("issue", []))[:500]
    if isinstance(error, DocumentRefused):
        return hl7v2.ApplicationError(text, APPLICATION_ERRORS[error.reason])
    if error.status == 412 and "Patient" in text:
        return hl7v2.ApplicationError(text, "902")
    return hl7v2.ApplicationError(text, "906")


def _xds_code(issue: dict, status: int) -> str:
    """The XDS error code an MHD check put in the issue's details, else the generic one for the status."""
    text = str((issue.get("details") or {}).get("text") or "")
    if text.startswith("XDS"):
        return text.split()[0]
    if status == 412 and "Patient" in str(issue.get("diagnostics", "")):
        return "XDSUnknownPatientId"  # the submission's patientId matches no single record
    return "XDSRepositoryError" if status >= 500 else "XDSRegistryError"


def _json(payload: dict) -> bytes:
    return dumps(payload).encode("utf-8")
