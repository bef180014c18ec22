"""The structure a CDA header needs before it can be mapped, and the ids of the document and its versions."""
from __future__ import annotations

import re

from ..errors import MappingError
from .datatypes import identifier
from .nodes import Element, attribute, every, first, required

DOCUMENT = "/ClinicalDocument"
CUSTODIAN = "custodian/assignedCustodian/representedCustodianOrganization"
# No ANS mapping gives setId and versionNumber a place in a DocumentReference (PDSm maps neither): this
# project's choice, the setId an identifier of this type, the versionNumber this extension (README.md).
SET_ID_TYPE = {"coding": [{"system": "https://github.com/fhir-server/CodeSystem/document-identifier-type",
                           "code": "setId", "display": "CDA setId: the id shared by every version of the document"}]}
VERSION_NUMBER = "https://github.com/fhir-server/StructureDefinition/cda-version-number"
_INT = re.compile(r"[+-]?[0-9]+")


def unique_id(root: Element) -> dict:
    """ClinicalDocument/id as an Identifier (the masterIdentifier)."""
    where = f"{DOCUMENT}/id"
    element = required(root, "id", DOCUMENT, "the document's unique id")
    attribute(element, "root", where, "the root of the document's unique id")
    found = identifier(element, where)
    if found is None:
        raise MappingError(f"{where} has a nullFlavor: a CDA header needs the document's unique id", "required", where)
    return found


def set_id(root: Element) -> dict | None:
    """ClinicalDocument/setId as an Identifier typed SET_ID_TYPE (None when absent or a nullFlavor)."""
    element = first(root, "setId")
    found = identifier(element, f"{DOCUMENT}/setId") if element is not None else None
    return {**found, "type": SET_ID_TYPE} if found else None


def version_number(root: Element) -> dict | None:
    """ClinicalDocument/versionNumber as the VERSION_NUMBER extension (None when absent or a nullFlavor)."""
    element = first(root, "versionNumber")
    if element is None or element.get("nullFlavor"):
        return None
    where = f"{DOCUMENT}/versionNumber/@value"
    value = (element.get("value") or "").strip()
    if not _INT.fullmatch(value) or not -2**31 <= int(value) < 2**31:
        raise MappingError(f"{where}: {value!r} is not an integer (the document's version)", "value", where)
    return {"url": VERSION_NUMBER, "valueInteger": int(value)}


def check_header(root: Element) -> None:
    """MappingError for a header without its id, code, effectiveTime, one recordTarget/patientRole, an
    author/assignedAuthor or custodian organization."""
    unique_id(root)
    code = required(root, "code", DOCUMENT, "the document type")
    for name in ("code", "codeSystem"):
        attribute(code, name, f"{DOCUMENT}/code", "the document type")
    attribute(required(root, "effectiveTime", DOCUMENT, "the creation time"), "value", f"{DOCUMENT}/effectiveTime",
              "the creation time")
    targets = every(root, "recordTarget")
    if len(targets) > 1:
        raise MappingError(f"{DOCUMENT}/recordTarget: the document has {len(targets)} recordTargets; a document "
                           f"about one patient is expected", "structure", f"{DOCUMENT}/recordTarget[2]")
    required(root, "recordTarget/patientRole", DOCUMENT, "the patient")
    required(root, "author", DOCUMENT, "an author")
    for n, author in enumerate(every(root, "author"), 1):
        required(author, "assignedAuthor", f"{DOCUMENT}/author[{n}]", "an assignedAuthor in every author")
    required(root, CUSTODIAN, DOCUMENT, "the custodian organization")
