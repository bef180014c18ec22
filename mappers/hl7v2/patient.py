"""PID -> the Patient entry of a transaction: a conditional create, or a conditional update (A08, A31).

A patient identified by an INS is filed only with valid identity traits (birth date, sex): a faulty one is
an error. Without an INS, the patient is matched on an identifier of its sender (an OID-based authority
first, else one local to the sending facility), and a faulty birth date or an unknown sex is left out with
a warning, so that the sender's results still reach the record."""
from __future__ import annotations

from urllib.parse import quote

from ..errors import MappingError
from .datatypes import address, contact_point, patient_identifier, person_name, timestamp
from .message import Message, Segment
from .tables import TABLES, is_local_system

BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"


def patient_entry(message: Message, pid: Segment, update: bool, warnings: list[MappingError]) -> dict:
    """The Patient of the PID segment, matched on its first identifier with a system (an INS first)."""
    patient = patient_resource(pid, message.sender, warnings)
    matched = _matching_identifier(patient["identifier"], pid)
    if is_local_system(matched["system"]):
        warnings.append(MappingError(
            f"PID-3: the patient has no INS and no identifier of an ISO OID authority: matched on "
            f"{matched['system']}|{matched['value']}, local to the sending facility", "103", pid.at(3, component=4)))
    criteria = "identifier=" + quote(_token(matched), safe=":/|")
    request = ({"method": "PUT", "url": f"Patient?{criteria}"} if update
               else {"method": "POST", "url": "Patient", "ifNoneExist": criteria})
    return {"fullUrl": message.full_url(pid, "Patient"), "resource": patient, "request": request}


def patient_resource(pid: Segment, sender: str, warnings: list[MappingError]) -> dict:
    """PID-3 identifiers, PID-5 names, PID-7 birth date, PID-8 sex, PID-11 addresses (birth place as the
    patient-birthPlace extension), PID-13/14 home and business telecom."""
    identifiers = [found for number, value in enumerate(pid.repetitions(3), start=1)
                   if (found := patient_identifier(value, pid.at(3, number), sender))]
    if not identifiers:
        raise MappingError("PID-3 (patient identifier list) is required", "101", pid.at(3))
    lenient = None if any(found.get("system", "")[8:] in TABLES["ins"] for found in identifiers) else warnings
    patient: dict = {"resourceType": "Patient"}
    places = [found for value in pid.repetitions(11)
              if value.get(7) in TABLES["birthplace_types"] and (found := address(value))]
    if places:
        patient["extension"] = [{"url": BIRTH_PLACE, "valueAddress": places[0]}]
    patient["identifier"] = identifiers
    names = [found for value in pid.repetitions(5) if (found := person_name(value))]
    if names:
        patient["name"] = names
    telecom = [found for field, use in ((13, "home"), (14, "work")) for value in pid.repetitions(field)
               if (found := contact_point(value, use))]
    if telecom:
        patient["telecom"] = telecom
    sex = pid.get(8)
    if sex and sex not in TABLES["sex"]:
        _fault(MappingError(f"PID-8 sex {sex!r} is not in HL7 table 0001 ({', '.join(TABLES['sex'])})", "103",
                            pid.at(8)), lenient, "sex")
    elif sex:
        patient["gender"] = TABLES["sex"][sex]
    try:
        birth_date = timestamp(pid.get(7), pid.at(7), "date")
    except MappingError as error:
        _fault(error, lenient, "birth date")
        birth_date = None
    if birth_date:
        patient["birthDate"] = birth_date
    addresses = [found for value in pid.repetitions(11)
                 if value.get(7) not in TABLES["birthplace_types"] and (found := address(value))]
    if addresses:
        patient["address"] = addresses
    return patient


def _fault(error: MappingError, warnings: list[MappingError] | None, what: str) -> None:
    """A faulty identity trait: an error for an INS identity (no `warnings`), else left out with a warning."""
    if warnings is None:
        raise error
    warnings.append(MappingError(f"{error.message}: the {what} is left out (the patient has no INS)", error.code,
                                 error.location))


def _matching_identifier(identifiers: list[dict], pid: Segment) -> dict:
    with_system = [found for found in identifiers if "system" in found]
    if not with_system:
        given = any(value.get(4) for value in pid.repetitions(3))
        raise MappingError("PID-3: no patient identifier has an assigning authority, and the message names no "
                           "sending facility (MSH-4) or application (MSH-3) to take as one: the patient cannot be "
                           "identified", "103" if given else "101", pid.at(3, component=4))
    ins = [found for found in with_system if found["system"][8:] in TABLES["ins"]]
    universal = [found for found in with_system if not is_local_system(found["system"])]
    return (ins or universal or with_system)[0]


def _token(found: dict) -> str:
    """`system|value`, commas escaped (`\\,`): a bare one would separate two values to search for."""
    return "|".join(found[key].replace(",", r"\,") for key in ("system", "value"))
