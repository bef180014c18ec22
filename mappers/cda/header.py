"""The structure a CDA header needs before it can be mapped."""
from __future__ import annotations

from ..errors import MappingError
from .datatypes import identifier
from .nodes import Element, attribute, every, required

DOCUMENT = "/ClinicalDocument"
CUSTODIAN = "custodian/assignedCustodian/representedCustodianOrganization"


def unique_id(root: Element) -> dict:
    """ClinicalDocument/id as an Identifier (the masterIdentifier)."""
    where = f"{DOCUMENT}/id"
    element = required(root, "id", DOCUMENT, "the document's unique id")
    attribute(element, "root", where, "the root of the document's unique id")
    found = identifier(element, where)
    if found is None:
        raise MappingError(f"{where} has a nullFlavor: a CDA header needs the document's unique id", "required", where)
    return found


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
