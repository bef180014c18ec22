"""Documents pulled in a practitioner's own format: a DocumentReference, its Binary and its patient as an
HL7 v2 MDM^T02 message (mappers/hl7v2), for v2 systems (`GET DocumentReference/[id]` with
`Accept: application/hl7-v2`). Each resource is read under the caller's access rules."""
from __future__ import annotations

from mappers import hl7v2
from mappers.errors import MappingError

from ..access.membership import document_binaries
from ..access.policy import record_id
from ..errors import Unprocessable
from .resources import ResourceService

def mdm_message(service: ResourceService, document_id: str) -> bytes:
    version = service.read("DocumentReference", document_id)
    document = version.resource or {}
    binaries = document_binaries(document)
    patient_id = record_id("DocumentReference", version.id, version.index)  # however the document names them
    if not binaries or patient_id is None:
        raise Unprocessable("Only a document whose content is a Binary of this server and that is in a patient's "
                            "record can be sent as an MDM^T02 message", code="not-supported")
    content = service.full_resource(service.read("Binary", binaries[0]))
    patient = service.read("Patient", patient_id).resource or {}
    try:
        return hl7v2.encode(hl7v2.from_fhir(document, content, patient))
    except MappingError as error:
        raise Unprocessable(f"This document cannot be sent as an MDM^T02 message: {error.message}",
                            code="not-supported")
