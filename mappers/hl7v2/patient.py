"""PID -> the Patient entry of a transaction: a conditional create, or a conditional update (A08, A31)."""
from __future__ import annotations

from urllib.parse import quote

from ..errors import MappingError
from .datatypes import address, contact_point, patient_identifier, person_name, timestamp
from .message import Message, Segment
from .tables import TABLES

BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"


def patient_entry(message: Message, pid: Segment, update: bool) -> dict:
    """The Patient of the PID segment, matched on its first identifier with a system (an INS first)."""
    patient = patient_resource(pid)
    criteria = "identifier=" + quote(_token(_matching_identifier(patient["identifier"], pid)), safe=":/|")
    request = ({"method": "PUT", "url": f"Patient?{criteria}"} if update
               else {"method": "POST", "url": "Patient", "ifNoneExist": criteria})
    return {"fullUrl": message.full_url(pid, "Patient"), "resource": patient, "request": request}


def patient_resource(pid: Segment) -> dict:
    """PID-3 identifiers, PID-5 names, PID-7 birth date, PID-8 sex, PID-11 addresses (birth place as the
    patient-birthPlace extension), PID-13/14 home and business telecom."""
    identifiers = [found for number, value in enumerate(pid.repetitions(3), start=1)
                   if (found := patient_identifier(value, pid.at(3, number)))]
    if not identifiers:
        raise MappingError("PID-3 (patient identifier list) is required", "101", pid.at(3))
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
    if sex:
        if sex not in TABLES["sex"]:
            raise MappingError(f"PID-8 sex {sex!r} is not in HL7 table 0001 ({', '.join(TABLES['sex'])})", "103",
                               pid.at(8))
        patient["gender"] = TABLES["sex"][sex]
    birth_date = timestamp(pid.get(7), pid.at(7), "date")
    if birth_date:
        patient["birthDate"] = birth_date
    addresses = [found for value in pid.repetitions(11)
                 if value.get(7) not in TABLES["birthplace_types"] and (found := address(value))]
    if addresses:
        patient["address"] = addresses
    return patient


def _matching_identifier(identifiers: list[dict], pid: Segment) -> dict:
    with_system = [found for found in identifiers if "system" in found]
    if not with_system:
        given = any(value.get(4) for value in pid.repetitions(3))
        raise MappingError("PID-3: no patient identifier has an assigning authority this server knows (an ISO OID "
                           "in CX-4.2, or a namespace listed in tables.json): the patient cannot be identified",
                           "103" if given else "101", pid.at(3, component=4))
    ins = [found for found in with_system if found["system"][8:] in TABLES["ins"]]
    return (ins or with_system)[0]


def _token(found: dict) -> str:
    """`system|value`, commas escaped (`\\,`): a bare one would separate two values to search for."""
    return "|".join(found[key].replace(",", r"\,") for key in ("system", "value"))
