"""A DocumentEntry written as an ebRIM ExtrinsicObject (ITI TF-3 4.2.3.2), as a stored query returns it."""
from __future__ import annotations

import itertools
import uuid

from lxml import etree

from .metadata import Code, DocumentEntry
from .soap import q
from .tables import DOCUMENT_ENTRY


def extrinsic_object(entry: DocumentEntry, status: str, repository_unique_id: str | None) -> etree._Element:
    """The ExtrinsicObject of `entry` (id its entryUUID) with availabilityStatus `status` (a StatusType URN);
    its Classifications and ExternalIdentifiers get ids derived from the entryUUID."""
    element = etree.Element(q("rim", "ExtrinsicObject"), id=entry.entry_id, lid=entry.entry_id,
                            objectType=DOCUMENT_ENTRY["objectType"], mimeType=entry.mime_type, status=status)
    ids = (f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{entry.entry_id}#{n}')}" for n in itertools.count(1))
    for name, values in (("creationTime", [entry.creation_time]), ("hash", [entry.hash]),
                         ("languageCode", [entry.language]), ("legalAuthenticator", [entry.legal_authenticator]),
                         ("repositoryUniqueId", [repository_unique_id]), ("serviceStartTime", [entry.service_start]),
                         ("serviceStopTime", [entry.service_stop]),
                         ("size", [None if entry.size is None else str(entry.size)]),
                         ("sourcePatientId", [entry.source_patient_id]),
                         ("sourcePatientInfo", entry.source_patient_info)):
        _slot(element, name, values)
    for child, text in (("Name", entry.title), ("Description", entry.comments)):
        if text:
            etree.SubElement(etree.SubElement(element, q("rim", child)), q("rim", "LocalizedString"), value=text)
    for author in entry.authors:
        classification = _classification(element, DOCUMENT_ENTRY["author"], "", next(ids))
        for name, values in (("authorPerson", [author.person]), ("authorInstitution", author.institutions),
                             ("authorRole", author.roles), ("authorSpecialty", author.specialties)):
            _slot(classification, name, values)
    for scheme, codes in (("classCode", [entry.class_code]), ("confidentialityCode", entry.confidentiality),
                          ("eventCodeList", entry.events), ("formatCode", [entry.format_code]),
                          ("healthcareFacilityTypeCode", [entry.facility_type]),
                          ("practiceSettingCode", [entry.practice_setting]), ("typeCode", [entry.type_code])):
        for code in filter(None, codes):
            _code(element, DOCUMENT_ENTRY[scheme], code, next(ids))
    for scheme, name, value in (("patientId", "XDSDocumentEntry.patientId", entry.patient_id),
                                ("uniqueId", "XDSDocumentEntry.uniqueId", entry.unique_id)):
        identifier = etree.SubElement(element, q("rim", "ExternalIdentifier"), id=next(ids),
                                      registryObject=entry.entry_id, identificationScheme=DOCUMENT_ENTRY[scheme],
                                      value=value)
        etree.SubElement(etree.SubElement(identifier, q("rim", "Name")), q("rim", "LocalizedString"), value=name)
    return element


def _slot(parent: etree._Element, name: str, values: list | tuple) -> None:
    values = [value for value in values if value]
    if values:
        value_list = etree.SubElement(etree.SubElement(parent, q("rim", "Slot"), name=name), q("rim", "ValueList"))
        for value in values:
            etree.SubElement(value_list, q("rim", "Value")).text = value


def _classification(parent: etree._Element, scheme: str, node: str, element_id: str) -> etree._Element:
    return etree.SubElement(parent, q("rim", "Classification"), id=element_id, classificationScheme=scheme,
                            classifiedObject=parent.get("id"), nodeRepresentation=node)


def _code(parent: etree._Element, scheme: str, code: Code, element_id: str) -> None:
    classification = _classification(parent, scheme, code.code, element_id)
    _slot(classification, "codingScheme", [code.scheme])
    if code.display:
        etree.SubElement(etree.SubElement(classification, q("rim", "Name")), q("rim", "LocalizedString"),
                         value=code.display)
