"""to_fhir: one HL7 v2 message -> a FHIR R4 transaction Bundle."""
from __future__ import annotations

from ..errors import MappingError
from .consent import consent_entries
from .documents import document_entries, results_entries
from .message import Message, parse
from .patient import patient_entry
from .tables import TABLES
from .unmapped import unmapped_warnings


def to_fhir(message: bytes | str, warnings: list[MappingError] | None = None) -> dict:
    """The transaction Bundle of an ADT^A01/A03/A04/A08/A28/A31 (the Patient), ORU^R01 or MDM^T02, T10, T04
    (the Patient, a DocumentReference and its Binary entries: documents.py). MappingError with an HL7 table
    0357 code otherwise (an ApplicationError, with its ANS code, for a message refused as a whole). What was
    mapped with a loss or not acted on (a trait left out, a patient matched on a local identifier, a
    request for an MSSanté mail), and every field that has a value the mapping never read (unmapped.py), is
    appended to `warnings`, for the ACK to tell the sender."""
    parsed = parse(message)
    kind = _kind(parsed)
    patients = parsed.all("PID")
    if not patients:
        raise MappingError("The message has no PID segment", "100")
    if len(patients) > 1:
        raise MappingError("The message names several patients: one PID per message is taken", "100",
                           patients[1].at(1))
    warnings = [] if warnings is None else warnings
    patient = patient_entry(parsed, patients[0], kind == "patient-update", warnings)
    entries = [patient, *consent_entries(parsed, patient, warnings)]
    if kind == "results":
        entries += results_entries(parsed, patient["fullUrl"], warnings)
    elif kind == "document":
        entries += document_entries(parsed, patient["fullUrl"], warnings)
    warnings.extend(unmapped_warnings(parsed))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _kind(message: Message) -> str:
    """What the message type (MSH-9) maps to: 200 for an unknown type, 201 for an unknown event of a known one."""
    code, trigger = message.header.get(9, 1), message.header.get(9, 2)
    kind = TABLES["messages"].get(f"{code}^{trigger}")
    if kind:
        return kind
    supported = ", ".join(TABLES["messages"])
    if any(event.startswith(f"{code}^") for event in TABLES["messages"]):
        raise MappingError(f"{code} event {trigger!r} is not supported ({supported})", "201", "MSH-9.2")
    raise MappingError(f"Message type {code}^{trigger} is not supported ({supported})", "200", "MSH-9.1")
