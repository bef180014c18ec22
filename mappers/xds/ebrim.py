"""ebRIM 3.0 registry objects (ITI TF-3 4.2) read into metadata values, each problem collected as a MappingError."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from lxml import etree

from ..errors import MappingError
from .hl7 import authority, components, dtm_to_fhir, practitioner, source_patient
from .metadata import Author, Code, DocumentEntry
from .soap import q
from .tables import DOCUMENT_ENTRY, system_of

METADATA = "XDSRegistryMetadataError"
_HASH = re.compile(r"[0-9a-fA-F]{40}")


class Reader:
    """The attributes of one registry object; `problems` collects what is missing or malformed."""

    def __init__(self, element: etree._Element, problems: list[MappingError],
                 classifications: Iterable[etree._Element] = ()) -> None:
        self.element = element
        self.where = element.get("id") or element.tag.rpartition("}")[2]
        self.problems = problems
        self.classifications = [*element.iterchildren(q("rim", "Classification")), *classifications]

    def problem(self, message: str, code: str = METADATA) -> None:
        self.problems.append(MappingError(f"{self.where}: {message}", code, self.where))

    def slots(self, name: str, element: etree._Element | None = None) -> list[str]:
        found = (self.element if element is None else element).iterchildren(q("rim", "Slot"))
        return [(value.text or "").strip() for slot in found if slot.get("name") == name
                for value in slot.iter(q("rim", "Value"))]

    def slot(self, name: str, required: bool = True) -> str | None:
        values = self.slots(name)
        if len(values) > 1:
            self.problem(f"slot {name} has {len(values)} values, not one")
        elif not values and required:
            self.problem(f"slot {name} is required")
        return values[0] if len(values) == 1 else None

    def time(self, name: str, required: bool = True) -> str | None:
        value = self.slot(name, required)
        return value if value is None or self.valid(dtm_to_fhir, value, name) else None

    def text(self, child: str) -> str | None:
        """The Name or Description of the object."""
        string = self.element.find(f"{q('rim', child)}/{q('rim', 'LocalizedString')}")
        return string.get("value") if string is not None else None

    def external(self, scheme: str, name: str) -> str | None:
        values = [e.get("value", "").strip() for e in self.element.iterchildren(q("rim", "ExternalIdentifier"))
                  if e.get("identificationScheme") == scheme]
        if len(values) != 1 or not values[0]:
            self.problem(f"{name} is required once (ExternalIdentifier {scheme}), found {len(values)}")
            return None
        return values[0]

    def cx(self, value: str | None, name: str) -> str | None:
        """`value` if it is a patient identifier CX with an ISO assigning authority."""
        if value is not None and not authority(components(value, 4)[3]):
            self.problem(f"{name} {value!r} is not a CX with an ISO assigning authority (id^^^&oid&ISO)")
            return None
        return value

    def codes(self, scheme: str, name: str) -> list[Code]:
        found = []
        for classification in self.classifications:
            if classification.get("classificationScheme") != scheme:
                continue
            code, schemes = classification.get("nodeRepresentation"), self.slots("codingScheme", classification)
            display = classification.find(f"{q('rim', 'Name')}/{q('rim', 'LocalizedString')}")
            if not code or len(schemes) != 1:
                self.problem(f"{name} needs a nodeRepresentation and one codingScheme")
                continue
            if not self.valid(system_of, schemes[0], name):
                continue
            found.append(Code(code, schemes[0], display.get("value") if display is not None else None))
        return found

    def code(self, scheme: str, name: str) -> Code | None:
        before = len(self.problems)
        found = self.codes(scheme, name)
        if len(found) != 1 and len(self.problems) == before:
            self.problem(f"{name} is required once (Classification {scheme}), found {len(found)}")
        return found[0] if len(found) == 1 else None

    def authors(self, scheme: str) -> list[Author]:
        found = []
        for classification in self.classifications:
            if classification.get("classificationScheme") != scheme:
                continue
            persons = self.slots("authorPerson", classification)
            author = Author(persons[0] if persons else None, tuple(self.slots("authorInstitution", classification)),
                            tuple(self.slots("authorRole", classification)),
                            tuple(self.slots("authorSpecialty", classification)))
            if len(persons) > 1 or not (author.person or author.institutions):
                self.problem("an author needs at most one authorPerson, and an authorPerson or authorInstitution")
            elif self.person(author.person, "authorPerson"):
                found.append(author)
        return found

    def person(self, xcn: str | None, name: str) -> bool:
        """Whether `xcn` is absent or a person the FHIR mapping can name (a known name type code)."""
        return xcn is None or self.valid(lambda value, where: practitioner(value, "", where), xcn, name)

    def valid(self, check: Callable[[Any, str], object], value: object, name: str) -> bool:
        """Whether `check(value, where)` passes; its MappingError is a problem."""
        try:
            check(value, f"{self.where} {name}")
        except MappingError as e:
            self.problems.append(e)
            return False
        return True


def read_document_entry(element: etree._Element, problems: list[MappingError],
                        classifications: Iterable[etree._Element] = ()) -> DocumentEntry | None:
    """The DocumentEntry of an ExtrinsicObject (and of the registry-level Classifications of it), or None when
    it has problems (added to `problems`)."""
    before = len(problems)
    read = Reader(element, problems, classifications)
    if element.get("objectType") not in (None, DOCUMENT_ENTRY["objectType"]):
        read.problem(f"objectType {element.get('objectType')} is not a stable DocumentEntry")
    values = dict(
        entry_id=read.where, mime_type=element.get("mimeType"),
        unique_id=read.external(DOCUMENT_ENTRY["uniqueId"], "uniqueId"),
        patient_id=read.cx(read.external(DOCUMENT_ENTRY["patientId"], "patientId"), "patientId"),
        class_code=read.code(DOCUMENT_ENTRY["classCode"], "classCode"),
        type_code=read.code(DOCUMENT_ENTRY["typeCode"], "typeCode"),
        format_code=read.code(DOCUMENT_ENTRY["formatCode"], "formatCode"),
        facility_type=read.code(DOCUMENT_ENTRY["healthcareFacilityTypeCode"], "healthcareFacilityTypeCode"),
        practice_setting=read.code(DOCUMENT_ENTRY["practiceSettingCode"], "practiceSettingCode"),
        confidentiality=read.codes(DOCUMENT_ENTRY["confidentialityCode"], "confidentialityCode"),
        events=read.codes(DOCUMENT_ENTRY["eventCodeList"], "eventCodeList"),
        authors=read.authors(DOCUMENT_ENTRY["author"]),
        creation_time=read.time("creationTime"), language=read.slot("languageCode"),
        source_patient_id=read.cx(read.slot("sourcePatientId"), "sourcePatientId"),
        source_patient_info=read.slots("sourcePatientInfo"),
        legal_authenticator=read.slot("legalAuthenticator", required=False),
        service_start=read.time("serviceStartTime", required=False),
        service_stop=read.time("serviceStopTime", required=False),
        hash=read.slot("hash", required=False), size=read.slot("size", required=False),
        title=read.text("Name"), comments=read.text("Description"))
    if not values["mime_type"]:
        read.problem("mimeType is required")
    if not values["confidentiality"]:
        read.problem("confidentialityCode is required")
    if values["hash"] is not None and not _HASH.fullmatch(values["hash"]):
        read.problem(f"hash {values['hash']!r} is not a SHA-1 in hexadecimal")
    if values["size"] is not None and not values["size"].isdigit():
        read.problem(f"size {values['size']!r} is not a number of bytes")
    read.person(values["legal_authenticator"], "legalAuthenticator")
    if values["source_patient_id"] is not None:
        read.valid(lambda info, where: source_patient(values["source_patient_id"], info, where),
                    values["source_patient_info"], "sourcePatientInfo")
    if len(problems) > before:
        return None
    values["size"] = int(values["size"]) if values["size"] is not None else None
    return DocumentEntry(**values)
