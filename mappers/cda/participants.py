"""The people, organisations and devices of a CDA header as FHIR resources: the Patient of recordTarget, and
the contained resources of authors, custodian and legal authenticator."""
from __future__ import annotations

from ..errors import MappingError
from . import tables
from .datatypes import addresses, concept, human_names, identifiers, telecoms
from .nodes import Element, every, first, text
from .times import fhir_date

_DEVICE_NAMES = (("manufacturerModelName", "model-name"), ("softwareName", "other"))


def reference(resource: dict) -> dict:
    """A reference to a contained resource."""
    return {"reference": f"#{resource['id']}"}


def _filled(resource: dict, elements: dict) -> dict:
    """`resource` with the elements that have a value, in their order."""
    return {**resource, **{key: value for key, value in elements.items() if value}}


def _names(person: Element | None) -> list[dict]:
    return [] if person is None else [name for pn in every(person, "name") for name in human_names(pn)]


def patient(role: Element, where: str) -> dict:
    """recordTarget/patientRole as a Patient: ids, names, telecom, gender, birth date, addresses."""
    found = identifiers(role, where)
    if not found:
        raise MappingError(f"{where}/id: the patient has no identifier (every id is a nullFlavor)", "required",
                           f"{where}/id")
    person = first(role, "patient")
    return _filled({"resourceType": "Patient"}, {
        "identifier": found, "name": _names(person), "telecom": telecoms(role),
        "gender": _gender(person, f"{where}/patient/administrativeGenderCode"),
        "birthDate": _birth_date(person, f"{where}/patient/birthTime/@value"), "address": addresses(role)})


def _birth_date(person: Element | None, where: str) -> str | None:
    birth = first(person, "birthTime") if person is not None else None
    value = birth.get("value") if birth is not None else None
    return fhir_date(value, where) if value else None


def _gender(person: Element | None, where: str) -> str | None:
    """M, F, UN, or the nullFlavor UNK, as a FHIR gender; None for other nullFlavors."""
    element = first(person, "administrativeGenderCode") if person is not None else None
    if element is None:
        return None
    code = (element.get("code") or "").strip()
    gender = tables.vocabulary("gender", code or element.get("nullFlavor") or "")
    if code and gender is None:
        raise MappingError(f"{where}/@code: {code!r} is not an administrative gender (M, F, UN)", "value",
                           f"{where}/@code")
    return gender


def practitioner(role: Element, id_: str, where: str) -> dict:
    """An assignedAuthor or assignedEntity (ids, telecom, addr) with its assignedPerson as a Practitioner."""
    return _filled({"resourceType": "Practitioner", "id": id_}, {
        "identifier": identifiers(role, where), "name": _names(first(role, "assignedPerson")),
        "telecom": telecoms(role), "address": addresses(role)})


def organization(element: Element, id_: str, where: str) -> dict | None:
    """An organisation as an Organization; None when it has neither id, name, telecom nor address."""
    result = _filled({"resourceType": "Organization", "id": id_}, {
        "identifier": identifiers(element, where), "name": text(first(element, "name")),
        "telecom": telecoms(element), "address": addresses(element)})
    return result if len(result) > 2 else None


def author(element: Element, n: int, where: str) -> tuple[list[dict], dict]:
    """author[n] as contained resources and the reference DocumentReference.author makes: a Device for an
    assignedAuthoringDevice; for an assignedPerson a Practitioner, or a PractitionerRole holding it when there
    is a specialty (assignedAuthor/code) or an organisation; else the representedOrganization."""
    where = f"{where}/assignedAuthor"
    role = first(element, "assignedAuthor")
    represented = first(role, "representedOrganization")
    org = organization(represented, f"author{n}-organization", f"{where}/representedOrganization") \
        if represented is not None else None
    contained = [org] if org else []
    machine = first(role, "assignedAuthoringDevice")
    if machine is not None:
        device = _device(machine, role, f"author{n}", where, org)
        return [device, *contained], reference(device)
    if first(role, "assignedPerson") is None:
        if org is None:
            raise MappingError(f"{where}: an author needs an assignedPerson, an assignedAuthoringDevice or a "
                               f"representedOrganization", "required", where)
        return contained, reference(org)
    person = practitioner(role, f"author{n}", where)
    specialty = concept(first(role, "code"), f"{where}/code")
    if specialty is None and org is None:
        return [person], reference(person)
    practitioner_role = _filled({"resourceType": "PractitionerRole", "id": f"author{n}-role"}, {
        "practitioner": reference(person), "organization": reference(org) if org else None,
        "specialty": [specialty] if specialty else None})
    return [person, *contained, practitioner_role], reference(practitioner_role)


def _device(machine: Element, role: Element, id_: str, where: str, owner: dict | None) -> dict:
    names = [{"name": name, "type": kind} for step, kind in _DEVICE_NAMES if (name := text(first(machine, step)))]
    return _filled({"resourceType": "Device", "id": id_}, {
        "identifier": identifiers(role, where), "deviceName": names, "owner": reference(owner) if owner else None})
