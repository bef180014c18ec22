"""A Submission as the transaction Bundle an MHD ITI-65 Provide Document Bundle is (MHD 2:3.65.4.1.2, its
XDS mappings of SubmissionSet to List and DocumentEntry to DocumentReference), for fhir_server/service/mhd.py.

fullUrls are urn:uuids derived from the uniqueIds, so the same request always gives the same Bundle. The
patient is a conditional reference `Patient?identifier=<system>|<value>` to the record's Patient; authors,
the legal authenticator and the source patient are contained resources.
"""
from __future__ import annotations

import base64
import uuid
from urllib.parse import quote

from . import hl7
from .metadata import Author, Code, DocumentEntry, Submission
from .tables import system_of

MHD = "https://profiles.ihe.net/ITI/MHD"
RFC3986 = "urn:ietf:rfc:3986"


def full_url(resource_type: str, unique_id: str) -> str:
    """The urn:uuid of the resource made from the XDS object with this uniqueId."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, f'{resource_type}|{unique_id}')}"


def patient_reference(cx: str) -> dict:
    """The conditional reference to the record's Patient of an XDS patient id (`value^^^&oid&ISO`)."""
    ident = hl7.cx_to_identifier(cx)
    return {"reference": f"Patient?identifier={ident['system']}|{quote(ident['value'], safe='')}"}


def master_identifier(unique_id: str) -> dict:
    """A uniqueId as an Identifier: an OID as `urn:oid:<oid>`, `root^extension` as system urn:oid:<root>."""
    root, _, extension = unique_id.partition("^")
    if extension:
        return {"system": f"urn:oid:{root}", "value": extension}
    return {"system": RFC3986, "value": f"urn:oid:{root}"}


def to_fhir(submission: Submission) -> dict:
    """The ITI-65 transaction Bundle of `submission`: its SubmissionSet List, then the DocumentReference and
    the Binary of each document."""
    patient = patient_reference(submission.patient_id)
    documents = [_document_reference(entry, patient) for entry in submission.documents]
    binaries = [{"resourceType": "Binary", "contentType": entry.mime_type,
                 "data": base64.b64encode(submission.contents[entry.entry_id]).decode("ascii")}
                for entry in submission.documents]
    entries = [_entry(full_url("List", submission.unique_id), _submission_set(submission, patient))]
    entries += [_entry(full_url("DocumentReference", entry.unique_id), document)
                for entry, document in zip(submission.documents, documents)]
    entries += [_entry(full_url("Binary", entry.unique_id), binary)
                for entry, binary in zip(submission.documents, binaries)]
    profile = f"{MHD}/StructureDefinition/IHE.MHD.Comprehensive.ProvideBundle"
    return {"resourceType": "Bundle", "meta": {"profile": [profile]}, "type": "transaction", "entry": entries}


def _entry(url: str, resource: dict) -> dict:
    return {"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}


def _entry_uuid(entry_id: str, resource_type: str, unique_id: str) -> str:
    """The entryUUID: the object's id when it is a urn:uuid, else (a symbolic id) the resource's fullUrl."""
    if entry_id.startswith("urn:uuid:"):
        try:
            return f"urn:uuid:{uuid.UUID(entry_id[9:])}"
        except ValueError:
            pass
    return full_url(resource_type, unique_id)


def _coding(code: Code, where: str) -> dict:
    coding = {"system": system_of(code.scheme, where), "code": code.code}
    if code.display:
        coding["display"] = code.display
    return coding


def _concept(code: Code, where: str) -> dict:
    return {"coding": [_coding(code, where)]}


def _submission_set(submission: Submission, patient: dict) -> dict:
    where = submission.entry_id
    contained, sources = authors(submission.authors, "author", where)  # at most one (provide.py)
    result: dict = {"resourceType": "List"}
    if contained:
        result["contained"] = contained
    source_id = {"system": RFC3986, "value": f"urn:oid:{submission.source_id}"}
    result["extension"] = [{"url": f"{MHD}/StructureDefinition/ihe-sourceId", "valueIdentifier": source_id},
                           {"url": f"{MHD}/StructureDefinition/ihe-designationType",
                            "valueCodeableConcept": _concept(submission.content_type, where)}]
    result["identifier"] = [{"use": "usual", "system": RFC3986, "value": f"urn:oid:{submission.unique_id}"},
                            {"use": "official", "system": RFC3986,
                             "value": _entry_uuid(submission.entry_id, "List", submission.unique_id)}]
    result |= {"status": "current", "mode": "working"}
    if submission.title:
        result["title"] = submission.title
    result |= {"code": {"coding": [{"system": f"{MHD}/CodeSystem/MHDlistTypes", "code": "submissionset"}]},
               "subject": patient, "date": hl7.dtm_to_fhir(submission.submission_time, where)}
    kinds = {f"#{resource['id']}": resource["resourceType"] for resource in contained}
    for source in sources:  # an Organization is no List.source: MHD's authorOrg extension holds it
        result["source"] = source if kinds[source["reference"]] != "Organization" else {
            "extension": [{"url": f"{MHD}/StructureDefinition/ihe-authorOrg", "valueReference": source}]}
    if submission.comments:
        result["note"] = [{"text": submission.comments}]
    result["entry"] = [{"item": {"reference": full_url("DocumentReference", entry.unique_id)}}
                       for entry in submission.documents]
    return result


def authors(found: list[Author], prefix: str, where: str) -> tuple[list[dict], list[dict]]:
    """(contained resources, references) of XDS authors: a lone person is a Practitioner, a lone institution an
    Organization, anything else a PractitionerRole per institution (the first with the roles and specialties)."""
    contained: list[dict] = []
    references: list[str] = []
    for n, author in enumerate(found, 1):
        key = f"{prefix}{n}"
        person = hl7.practitioner(author.person, f"{key}-person", where) if author.person else None
        organizations = [hl7.organization(xon, f"{key}-org{m}") for m, xon in enumerate(author.institutions, 1)]
        parts = ([person] if person else []) + organizations
        contained += parts
        if len(parts) == 1 and not (author.roles or author.specialties):
            references.append(parts[0]["id"])
            continue
        for m, organization in enumerate(organizations or [None], 1):
            role: dict = {"resourceType": "PractitionerRole", "id": key if m == 1 else f"{key}-role{m}"}
            if person:
                role["practitioner"] = {"reference": f"#{person['id']}"}
            if organization:
                role["organization"] = {"reference": f"#{organization['id']}"}
            if m == 1 and author.roles:
                role["code"] = [hl7.concept(value, where) for value in author.roles]
            if m == 1 and author.specialties:
                role["specialty"] = [hl7.concept(value, where) for value in author.specialties]
            contained.append(role)
            references.append(role["id"])
    return contained, [{"reference": f"#{ref}"} for ref in references]


def _document_reference(entry: DocumentEntry, patient: dict) -> dict:
    where = entry.entry_id
    contained, references = authors(entry.authors, "author", where)
    if entry.legal_authenticator:
        contained.append(hl7.practitioner(entry.legal_authenticator, "legal-authenticator", where))
    contained.append(hl7.source_patient(entry.source_patient_id, entry.source_patient_info, where))
    result: dict = {"resourceType": "DocumentReference", "contained": contained,
                    "masterIdentifier": master_identifier(entry.unique_id),
                    "identifier": [{"use": "official", "system": RFC3986,
                                    "value": _entry_uuid(entry.entry_id, "DocumentReference", entry.unique_id)}],
                    "status": "current", "type": _concept(entry.type_code, where),
                    "category": [_concept(entry.class_code, where)], "subject": patient}
    if references:
        result["author"] = references
    if entry.legal_authenticator:
        result["authenticator"] = {"reference": "#legal-authenticator"}
    if entry.relations:
        result["relatesTo"] = [{"code": code, "target": {"reference": f"DocumentReference?identifier={RFC3986}|"
                                                                      f"{target}"}} for code, target in entry.relations]
    if entry.comments:
        result["description"] = entry.comments
    result["securityLabel"] = [_concept(code, where) for code in entry.confidentiality]
    result["content"] = [{"attachment": _attachment(entry), "format": _coding(entry.format_code, where)}]
    result["context"] = _context(entry, where)
    return result


def _attachment(entry: DocumentEntry) -> dict:
    attachment = {"contentType": entry.mime_type, "language": entry.language,
                  "url": full_url("Binary", entry.unique_id), "size": entry.size,
                  "hash": base64.b64encode(bytes.fromhex(entry.hash)).decode("ascii")}
    if entry.title:
        attachment["title"] = entry.title
    attachment["creation"] = hl7.dtm_to_fhir(entry.creation_time, entry.entry_id)
    return attachment


def _context(entry: DocumentEntry, where: str) -> dict:
    context: dict = {}
    if entry.events:
        context["event"] = [_concept(code, where) for code in entry.events]
    period = {key: hl7.dtm_to_fhir(value, where) for key, value in (("start", entry.service_start),
                                                                    ("end", entry.service_stop)) if value}
    if period:
        context["period"] = period
    context |= {"facilityType": _concept(entry.facility_type, where),
                "practiceSetting": _concept(entry.practice_setting, where),
                "sourcePatientInfo": {"reference": "#source-patient"}}
    return context
