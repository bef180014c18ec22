"""ITI-57 Update Document Set, the availability status of a registered DocumentEntry (ITI TF-2 3.57: an
UpdateAvailabilityStatus association from the SubmissionSet to the entry's entryUUID, with OriginalStatus and
NewStatus), as the DMP deletes (TD3.3c, NewStatus urn:asip:ci-sis:2010:StatusType:Deleted) or deprecates a
document; mapped to what PDSm's metadata update (Flux 03) is: a conditional JSON Patch of the
DocumentReference's status, the document named by its entryUUID within the SubmissionSet's patient.

Deleted is `entered-in-error` (a withdrawal: then seen by its author alone), Deprecated `superseded`; the
OriginalStatus is a JSON Patch `test` of the status the document must have. Metadata updates (a new
DocumentEntry version), other statuses (Archived, Approved) and Folders are refused (XDSMetadataUpdateError).
"""
from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from lxml import etree

from ..errors import MappingError
from . import hl7
from .ebrim import METADATA, Reader
from .provide import MappingErrors
from .soap import header, q, read_message
from .tables import SCHEMES, SUBMISSION_SET

ACTION = "urn:ihe:iti:2010:UpdateDocumentSet"
UPDATE_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
ORIGINAL = {"urn:oasis:names:tc:ebxml-regrep:StatusType:Approved": "current",
            "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated": "superseded"}
NEW = {"urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated": "superseded",
       "urn:asip:ci-sis:2010:StatusType:Deleted": "entered-in-error"}
UPDATE_ERROR = "XDSMetadataUpdateError"
RFC3986 = "urn:ietf:rfc:3986"


@dataclass(frozen=True)
class StatusUpdate:
    """One UpdateAvailabilityStatus: the entry's entryUUID, its status before and after (FHIR codes)."""

    entry_uuid: str
    original: str
    new: str


@dataclass(frozen=True)
class UpdateRequest:
    message_id: str | None
    patient_id: str  # the SubmissionSet's patientId (CX)
    updates: tuple[StatusUpdate, ...]


def is_update_document_set(body: bytes) -> bool:
    """Whether an XDS.b request is an ITI-57 SubmitObjectsRequest rather than an ITI-41 one."""
    head = body[:65536]
    return b"SubmitObjectsRequest" in head and b"ProvideAndRegisterDocumentSetRequest" not in head


def parse_update_document_set(body: bytes, content_type: str) -> UpdateRequest:
    """The status updates of an ITI-57 request (SOAP 1.2, plain or MTOM); MappingErrors listing each problem
    with its XDS error code."""
    envelope, _ = read_message(body, content_type)
    message_id, action = header(envelope, "MessageID"), header(envelope, "Action")
    if action not in (None, ACTION):
        raise MappingErrors([MappingError(f"wsa:Action is {action}, not {ACTION}", METADATA)], message_id)
    objects = envelope.find(f"{q('soap', 'Body')}/{q('lcm', 'SubmitObjectsRequest')}/{q('rim', 'RegistryObjectList')}")
    if objects is None:
        raise MappingErrors([MappingError("The SOAP Body holds no SubmitObjectsRequest", METADATA)], message_id)
    problems: list[MappingError] = []
    for element in objects.iterchildren(q("rim", "ExtrinsicObject")):
        problems.append(MappingError(f"{element.get('id')}: metadata updates (a new DocumentEntry version) are not "
                                     f"supported, only availability status updates", UPDATE_ERROR, element.get("id")))
    submission_set, patient_id = _submission_set(objects, problems)
    updates = _updates(objects, submission_set, problems) if submission_set else ()
    if submission_set and not updates and not problems:
        problems.append(MappingError(f"The request holds no {UPDATE_STATUS} association", UPDATE_ERROR))
    if problems:
        raise MappingErrors(problems, message_id)
    return UpdateRequest(message_id, patient_id, updates)


def _submission_set(objects: etree._Element, problems: list[MappingError]) -> tuple[str | None, str | None]:
    """(id, patientId) of the request's one SubmissionSet."""
    node = SUBMISSION_SET["classificationNode"]
    marked = {c.get("classifiedObject") for c in objects.iterchildren(q("rim", "Classification"))
              if c.get("classificationNode") == node}
    packages = list(objects.iterchildren(q("rim", "RegistryPackage")))
    sets = [p for p in packages if p.get("id") in marked or any(
        c.get("classificationNode") == node for c in p.iterchildren(q("rim", "Classification")))]
    if len(sets) != 1 or len(packages) != 1:
        problems.append(MappingError(f"The request holds {len(sets)} SubmissionSets and {len(packages) - len(sets)} "
                                     f"other RegistryPackages (Folders are not supported), not one SubmissionSet",
                                     UPDATE_ERROR))
        return None, None
    read = Reader(sets[0], problems)
    return read.where, read.cx(read.external(SUBMISSION_SET["patientId"], "patientId"), "patientId")


def _updates(objects: etree._Element, submission_set: str, problems: list[MappingError]) -> tuple[StatusUpdate, ...]:
    associations = list(objects.iterchildren(q("rim", "Association")))
    status_ids = {a.get("id") for a in associations if a.get("associationType") == UPDATE_STATUS}
    updates = []
    for association in associations:
        kind, source, target = (association.get(n) for n in ("associationType", "sourceObject", "targetObject"))
        read = Reader(association, problems)
        if kind == SCHEMES["hasMember"] and source == submission_set and target in status_ids:
            continue
        if kind != UPDATE_STATUS or source != submission_set or not (target or "").startswith("urn:uuid:"):
            read.problem(f"{kind} from {source} to {target} is not supported: only {UPDATE_STATUS} from the "
                         f"SubmissionSet to a registered entryUUID", UPDATE_ERROR)
            continue
        original, new = read.slot("OriginalStatus"), read.slot("NewStatus")
        if original is not None and original not in ORIGINAL:
            read.problem(f"OriginalStatus {original} is not one of {', '.join(ORIGINAL)}", UPDATE_ERROR)
        elif new is not None and new not in NEW:
            read.problem(f"NewStatus {new} is not supported: only {', '.join(NEW)}", UPDATE_ERROR)
        elif original is not None and new is not None:
            updates.append(StatusUpdate(target, ORIGINAL[original], NEW[new]))
    return tuple(updates)


def update_to_fhir(request: UpdateRequest) -> dict:
    """The transaction Bundle of an ITI-57 request: for each update, a conditional PATCH (a JSON Patch
    Binary) of the status of the DocumentReference with this entryUUID in the SubmissionSet's patient's record."""
    patient = hl7.cx_to_identifier(request.patient_id)
    entries = []
    for update in request.updates:
        operations = [{"op": "test", "path": "/status", "value": update.original},
                      {"op": "replace", "path": "/status", "value": update.new}]
        criteria = urlencode([("identifier", f"{RFC3986}|{update.entry_uuid}"),
                              ("patient.identifier", f"{patient['system']}|{patient['value']}")], safe=":|")
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{ACTION}|{update.entry_uuid}')}",
                        "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json",
                                     "data": base64.b64encode(json.dumps(operations).encode()).decode("ascii")},
                        "request": {"method": "PATCH", "url": f"DocumentReference?{criteria}"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
