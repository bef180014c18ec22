"""The DocumentReference of a CDA document, its metadata read from the header as MHD and PDSm map them."""
from __future__ import annotations

import base64
import hashlib

from ..errors import MappingError
from . import tables
from .datatypes import concept, identifier, identifier_criteria
from .header import CUSTODIAN, DOCUMENT, set_id, unique_id, version_number
from .nodes import Element, every, first, required, text
from .participants import author, organization, practitioner, reference
from .times import fhir_datetime, fhir_instant

CONTENT_TYPE = "text/xml"
PRACTICE_SETTING = "documentationOf/serviceEvent/performer/assignedEntity/representedOrganization/" \
                   "standardIndustryClassCode"
FACILITY_TYPE = "componentOf/encompassingEncounter/location/healthCareFacility/code"


def document_reference(root: Element, document: bytes, patient_url: str, binary_url: str) -> dict:
    """The DocumentReference of a checked header (header.check_header), its subject and content the entries
    at `patient_url` and `binary_url`."""
    contained, authors = [], []
    for n, element in enumerate(every(root, "author"), 1):
        resources, author_reference = author(element, n, f"{DOCUMENT}/author[{n}]")
        contained += resources
        authors.append(author_reference)
    custodian = organization(first(root, CUSTODIAN), "custodian", f"{DOCUMENT}/{CUSTODIAN}")
    authenticator = _authenticator(root)
    contained += [resource for resource in (custodian, authenticator) if resource]
    code = first(root, "code")
    document_type = _type(code)
    effective = first(root, "effectiveTime").get("value")
    result: dict = {"resourceType": "DocumentReference", "contained": contained}
    version = version_number(root)
    if version:
        result["extension"] = [version]
    result["masterIdentifier"] = unique_id(root)
    version_set = set_id(root)
    if version_set:
        result["identifier"] = [version_set]
    result |= {"status": "current", "type": document_type}
    category = _category(code, document_type["coding"][0])
    if category:
        result["category"] = [category]
    result["subject"] = {"reference": patient_url}
    date = fhir_instant(effective, f"{DOCUMENT}/effectiveTime/@value")
    if date:
        result["date"] = date
    result["author"] = authors
    if authenticator:
        result["authenticator"] = reference(authenticator)
    if custodian:
        result["custodian"] = reference(custodian)
    for key, value in (("relatesTo", _relations(root)), ("securityLabel", _security_label(root))):
        if value:
            result[key] = value
    result["content"] = [{"attachment": _attachment(root, document, binary_url, effective),
                          "format": _format(root)}]
    context = _context(root)
    if context:
        result["context"] = context
    return result


def _type(code: Element) -> dict:
    """The document's code and its translations, but for the TRE_A03 class a translation may carry."""
    found = concept(code, f"{DOCUMENT}/code")
    class_system = tables.load("class_codes")["system"]
    found["coding"] = found["coding"][:1] + [c for c in found["coding"][1:] if c.get("system") != class_system]
    return found


def _category(code: Element, type_coding: dict) -> dict | None:
    """The TRE_A03 class the document's code or a translation carries, else the class of its type (ASS_X16)."""
    class_oid = tables.load("class_codes")["codeSystem"]
    for cd in (code, *every(code, "translation")):
        if cd.get("codeSystem") == class_oid and (cd.get("code") or "").strip():
            return {"coding": [tables.class_coding(cd.get("code").strip())]}
    found = tables.class_of_type(type_coding.get("system"), type_coding["code"])
    return {"coding": [found]} if found else None


def _authenticator(root: Element) -> dict | None:
    entity = first(root, "legalAuthenticator/assignedEntity")
    if entity is None:
        return None
    return practitioner(entity, "authenticator", f"{DOCUMENT}/legalAuthenticator/assignedEntity")


def _relations(root: Element) -> list[dict]:
    """relatedDocument (RPLC, APND, XFRM) as relatesTo, its target the stored DocumentReference whose
    masterIdentifier is the parent document's id (a conditional reference)."""
    relations = []
    for n, related in enumerate(every(root, "relatedDocument"), 1):
        where = f"{DOCUMENT}/relatedDocument[{n}]"
        type_code = related.get("typeCode") or ""
        code = tables.vocabulary("relatedDocument", type_code)
        if code is None:
            raise MappingError(f"{where}/@typeCode: {type_code!r} is not RPLC, APND or XFRM", "value",
                               f"{where}/@typeCode")
        parent = identifier(required(related, "parentDocument/id", where, "the id of the related document"),
                            f"{where}/parentDocument/id")
        if parent is None:
            raise MappingError(f"{where}/parentDocument/id has no root: the related document is unknown",
                               "required", f"{where}/parentDocument/id")
        relations.append({"code": code, "target": {"reference": f"DocumentReference?{identifier_criteria(parent)}"}})
    return relations


def _security_label(root: Element) -> list[dict]:
    """confidentialityCode as a v3 Confidentiality securityLabel."""
    where = f"{DOCUMENT}/confidentialityCode"
    cd = first(root, "confidentialityCode")
    if cd is None or cd.get("nullFlavor"):
        return []
    table = tables.load("vocabulary")["confidentiality"]
    code, system = (cd.get("code") or "").strip(), cd.get("codeSystem")
    if code not in table["codes"] or system not in (None, table["codeSystem"]):
        raise MappingError(f"{where}: {code!r} of code system {system} is not a v3 Confidentiality code "
                           f"({', '.join(table['codes'])})", "value", where)
    return [{"coding": [{"system": table["system"], "code": code, "display": table["codes"][code]}]}]


def _attachment(root: Element, document: bytes, url: str, effective: str) -> dict:
    """The Binary's URL, with the size and SHA-1 of the exact bytes, language, title and creation time."""
    attachment: dict = {"contentType": CONTENT_TYPE}
    language_code = first(root, "languageCode")
    language = (language_code.get("code") or "").strip() if language_code is not None else ""
    if language:
        attachment["language"] = language
    attachment.update(url=url, size=len(document), hash=base64.b64encode(hashlib.sha1(document).digest()).decode())
    title = text(first(root, "title"))
    if title:
        attachment["title"] = title
    attachment["creation"] = fhir_datetime(effective, f"{DOCUMENT}/effectiveTime/@value")
    return attachment


def _format(root: Element) -> dict:
    templates = [element.get("root") for element in every(root, "templateId") if element.get("root")]
    body_text = first(root, "component/nonXMLBody/text")
    return tables.format_coding(templates, body_text.get("mediaType") if body_text is not None else None)


def _context(root: Element) -> dict:
    """Service events (documentationOf/serviceEvent/code) and period, facility type and practice setting."""
    context: dict = {}
    events = [concept(first(event, "code"), f"{DOCUMENT}/documentationOf[{n}]/serviceEvent/code")
              for n, event in enumerate(every(root, "documentationOf/serviceEvent"), 1)]
    if any(events):
        context["event"] = [event for event in events if event]
    period = _period(root)
    if period:
        context["period"] = period
    for key, path in (("facilityType", FACILITY_TYPE), ("practiceSetting", PRACTICE_SETTING)):
        value = concept(first(root, path), f"{DOCUMENT}/{path}")
        if value:
            context[key] = value
    return context


def _period(root: Element) -> dict | None:
    """The effectiveTime (low and high, or a single value) of the first serviceEvent that has one."""
    for n, event in enumerate(every(root, "documentationOf/serviceEvent"), 1):
        time = first(event, "effectiveTime")
        if time is None:
            continue
        where = f"{DOCUMENT}/documentationOf[{n}]/serviceEvent/effectiveTime"
        period = {key: fhir_datetime(bound.get("value"), f"{where}/{step}/@value")
                  for key, step in (("start", "low"), ("end", "high"))
                  if (bound := first(time, step)) is not None and bound.get("value")}
        if not period and time.get("value"):
            moment = fhir_datetime(time.get("value"), f"{where}/@value")
            period = {"start": moment, "end": moment}
        if period:
            return period
    return None
