"""Documents pulled in a practitioner's own format: a DocumentReference, its Binary and its patient as an
HL7 v2 MDM^T02 message (mappers/hl7v2), for v2 systems (`GET DocumentReference/[id]` with
`Accept: application/hl7-v2`). Each resource is read under the caller's access rules."""
from __future__ import annotations

import re

from mappers import hl7v2
from mappers.errors import MappingError

from ..errors import Unprocessable
from .compartment import document_binaries
from .resources import ResourceService

_PATIENT = re.compile(r"Patient/([A-Za-z0-9\-.]{1,64})")


def mdm_message(service: ResourceService, document_id: str) -> bytes:
    document = service.read("DocumentReference", document_id).resource or {}
    binaries = document_binaries(document)
    subject = _PATIENT.fullmatch(str((document.get("subject") or {}).get("reference") or ""))
    if not binaries or subject is None:
        raise Unprocessable("Only a document whose content is a Binary of this server and whose subject is a "
                            "Patient can be sent as an MDM^T02 message", code="not-supported")
    content = service.full_resource(service.read("Binary", binaries[0]))
    patient = service.read("Patient", subject[1]).resource or {}
    try:
        return hl7v2.encode(hl7v2.from_fhir(document, content, patient))
    except MappingError as error:
        raise Unprocessable(f"This document cannot be sent as an MDM^T02 message: {error.message}",
                            code="not-supported")
