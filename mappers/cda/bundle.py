"""A CDA document as a FHIR transaction Bundle: Patient (conditional create), DocumentReference, Binary."""
from __future__ import annotations

import base64
import uuid

from . import tables
from .datatypes import identifier_criteria
from .document import CONTENT_TYPE, document_reference
from .header import DOCUMENT, check_header, unique_id
from .nodes import first
from .parsing import parse_document
from .participants import patient


def to_fhir(document: bytes) -> dict:
    """The transaction Bundle of a CDA R2 document (MappingError when it cannot be mapped). Its fullUrls are
    urn:uuids derived from the document's id, so the same document always gives the same Bundle."""
    root = parse_document(document)
    check_header(root)
    master = unique_id(root)
    urls = {kind: full_url(master, kind) for kind in ("Patient", "DocumentReference", "Binary")}
    subject = patient(first(root, "recordTarget/patientRole"), f"{DOCUMENT}/recordTarget/patientRole")
    binary = {"resourceType": "Binary", "contentType": CONTENT_TYPE, "data": base64.b64encode(document).decode()}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": urls["Patient"], "resource": subject,
         "request": {"method": "POST", "url": "Patient",
                     "ifNoneExist": identifier_criteria(_preferred(subject["identifier"]))}},
        {"fullUrl": urls["DocumentReference"],
         "resource": document_reference(root, document, urls["Patient"], urls["Binary"]),
         "request": {"method": "POST", "url": "DocumentReference"}},
        {"fullUrl": urls["Binary"], "resource": binary, "request": {"method": "POST", "url": "Binary"}}]}


def full_url(master: dict, resource_type: str) -> str:
    """The urn:uuid of the `resource_type` entry of the document whose masterIdentifier is `master`."""
    name = f"{master['system']}|{master['value']}#{resource_type}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def _preferred(identifiers: list[dict]) -> dict:
    """The identifier naming the patient best: an INS (NIR, then NIA, test, demo), else the first one."""
    order = [f"urn:oid:{root}" for root in tables.load("identifier_types")["insPreference"]]
    return min(identifiers, key=lambda value: order.index(value["system"]) if value["system"] in order else len(order))
