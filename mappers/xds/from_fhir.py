"""A stored DocumentReference read back as an XDS DocumentEntry: the reverse of to_fhir's mapping."""
from __future__ import annotations

import base64
import uuid
from dataclasses import replace

from ..errors import MappingError
from . import hl7
from .metadata import Author, Code, DocumentEntry
from .tables import scheme_of
from .to_fhir import RFC3986


def unique_id(master: dict) -> str:
    """The XDS uniqueId of a masterIdentifier (see to_fhir.master_identifier)."""
    system, value = master.get("system"), master.get("value", "")
    if system == RFC3986 and value.startswith("urn:oid:"):
        return value[8:]
    return f"{system[8:]}^{value}" if system and system.startswith("urn:oid:") else value


def entry_uuid(document: dict) -> str:
    """The entryUUID: the official urn:uuid identifier, else one derived from the resource id."""
    for ident in document.get("identifier") or []:
        if ident.get("use") == "official" and str(ident.get("value", "")).startswith("urn:uuid:"):
            return ident["value"]
    resource_id = document.get("id")
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'DocumentReference/{resource_id}')}"


def document_entry(document: dict, patient_id: str) -> DocumentEntry:
    """The DocumentEntry of a DocumentReference of the patient whose XDS id (CX) is `patient_id`. Authors
    outside the resource (not contained) and relatesTo are left out: a DocumentEntry cannot hold them."""
    where = f"DocumentReference/{document.get('id')}"
    contained = {f"#{r.get('id')}": r for r in document.get("contained") or []}
    content = (document.get("content") or [{}])[0]
    attachment, context = content.get("attachment") or {}, document.get("context") or {}
    source = contained.get((context.get("sourcePatientInfo") or {}).get("reference"))
    source_patient_id, source_patient_info = hl7.pid(source) if source else (None, [])
    legal = contained.get((document.get("authenticator") or {}).get("reference"))
    period = context.get("period") or {}
    return DocumentEntry(
        entry_id=entry_uuid(document), unique_id=unique_id(document.get("masterIdentifier") or {}),
        patient_id=patient_id, mime_type=attachment.get("contentType", "application/octet-stream"),
        class_code=_code((document.get("category") or [None])[0], where),
        type_code=_code(document.get("type"), where),
        format_code=_code({"coding": [content["format"]]} if content.get("format") else None, where),
        facility_type=_code(context.get("facilityType"), where),
        practice_setting=_code(context.get("practiceSetting"), where),
        confidentiality=_codes(document.get("securityLabel"), where), events=_codes(context.get("event"), where),
        authors=_authors(document.get("author") or [], contained),
        legal_authenticator=hl7.xcn(legal) if legal and legal.get("resourceType") == "Practitioner" else None,
        creation_time=_dtm(attachment.get("creation")), language=attachment.get("language"),
        source_patient_id=source_patient_id or None, source_patient_info=source_patient_info,
        service_start=_dtm(period.get("start")), service_stop=_dtm(period.get("end")),
        hash=base64.b64decode(attachment["hash"]).hex() if attachment.get("hash") else None,
        size=attachment.get("size"), title=attachment.get("title"), comments=document.get("description"))


def _dtm(value: str | None) -> str | None:
    return hl7.fhir_to_dtm(value) if value else None


def _code(concept: dict | None, where: str) -> Code | None:
    codings = (concept or {}).get("coding") or []
    if not codings:
        return None
    coding = codings[0]
    if not coding.get("code"):
        raise MappingError(f"{where}: a coding has no code", "XDSRegistryError", where)
    return Code(coding["code"], scheme_of(coding.get("system"), where), coding.get("display"))


def _codes(concepts: list[dict] | None, where: str) -> list[Code]:
    return [code for code in (_code(concept, where) for concept in concepts or []) if code]


def _authors(references: list[dict], contained: dict[str, dict]) -> list[Author]:
    """The XDS authors of contained author resources; consecutive PractitionerRoles of one practitioner, the
    later ones with neither code nor specialty, are one author with several institutions (see to_fhir.authors)."""
    found: list[Author] = []
    role_of = None  # the practitioner reference of the last author when it was a PractitionerRole
    for reference in references:
        resource = contained.get(reference.get("reference")) or {}
        kind, last, role_of = resource.get("resourceType"), role_of, None
        if kind == "Practitioner":
            found.append(Author(person=hl7.xcn(resource)))
        elif kind == "Organization":
            found.append(Author(institutions=(hl7.xon(resource),)))
        elif kind == "PractitionerRole":
            role_of = (resource.get("practitioner") or {}).get("reference", "")
            organization = contained.get((resource.get("organization") or {}).get("reference"))
            institutions = (hl7.xon(organization),) if organization else ()
            if role_of == last and not (resource.get("code") or resource.get("specialty")):
                found[-1] = replace(found[-1], institutions=found[-1].institutions + institutions)
                continue
            person = contained.get(role_of)
            found.append(Author(hl7.xcn(person) if person else None, institutions,
                                tuple(hl7.coded(c, "authorRole") for c in resource.get("code") or []),
                                tuple(hl7.coded(c, "authorSpecialty") for c in resource.get("specialty") or [])))
    return [author for author in found if author.person or author.institutions]
