"""ZFA (IHE PAM France 2.11, the patient's DMP status) -> the patient's Consents about their shared record.

What the care organisation collected from the patient, in an ADT message, becomes Consent entries of the
same transaction as the Patient (the record's rules read them: fhir_server/access/consents.py):
- ZFA-9 (information and opposition to feeding the record): `IO` (informed, opposes) -> an active Consent
  denying `collect` (no document is added to the record); `INO` (informed, does not oppose) -> that Consent
  is deleted (the opposition lifted); `NA` (not collected) -> nothing, said in a warning.
- ZFA-11 (information and consent to consulting the record): `INC` (informed, does not consent) -> for each
  professional of the stay identified by an IDNPS (PV1-7 attending, PV1-9 consulting, PV1-17 admitting), an
  active Consent denying them `access` (they read nothing of the record, and may still add documents);
  `IC` (informed, consents) -> those Consents deleted; `NA` -> nothing, said in a warning.
Each Consent is identified by what it is about (the statement, the patient's identifier, the professional),
so that the latest statement collected on it replaces the earlier one, whoever sent it. ZFA-10 and ZFA-12
(when each was collected) are the Consents' dateTime. ZFA-1..8 (the record's status as the sender knows it,
and the fields PAM-FR 2.11 no longer uses) are not read: the server holds the record's state itself.
"""
from __future__ import annotations

from urllib.parse import quote, unquote

from ..errors import MappingError
from .datatypes import practitioner, timestamp
from .message import Message, Segment

IDENTIFIER_SYSTEM = "https://fhir-server.org/NamingSystem/pam-fr-zfa"
IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
# Consent.policyRule (ppc-1: a Consent names a policy or a policy rule): the patient opts out, as each
# provision of these Consents denies
OPT_OUT = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}]}
FEEDING = {"IO": True, "INO": False, "NA": None}  # ZFA-9: does the patient oppose feeding the record?
CONSULTATION = {"INC": True, "IC": False, "NA": None}  # ZFA-11: does the patient refuse consultation?
ESCAPED_COMMA = "\\,"  # a comma in a search value (a bare one separates values)
STAY_PROFESSIONALS = ((7, "attending"), (9, "consulting"), (17, "admitting"))  # PV1 fields (XCN)


def consent_entries(message: Message, patient: dict, warnings: list[MappingError]) -> list[dict]:
    """The Consent entries of the message's ZFA segment (none without one), for the `patient` entry."""
    segments = message.all("ZFA")
    if not segments:
        return []
    if len(segments) > 1:
        raise MappingError("The message has several ZFA segments: one DMP status per message", "100",
                           segments[1].at(1))
    zfa = segments[0]
    if message.header.get(9) != "ADT":
        raise MappingError("ZFA (DMP status, IHE PAM France) is read in ADT messages only", "100", zfa.at(1))
    token = _patient_token(patient)
    entries: list[dict] = []
    opposes = _statement(zfa, 9, FEEDING, "opposition to feeding the record", warnings)
    if opposes is not None:
        when = timestamp(zfa.get(10), zfa.at(10))
        consent = _deny(patient, when, [], "collect") if opposes else None
        entries.append(_entry(message, zfa, f"ZFA-9:{token}", consent))
    refuses = _statement(zfa, 11, CONSULTATION, "consent to consulting the record", warnings)
    if refuses is not None:
        when = timestamp(zfa.get(12), zfa.at(12))
        professionals = _stay_professionals(message)
        if not professionals:
            problem = (f"ZFA-11 {zfa.get(11)}: the statement concerns the professionals of the stay (PV1-7 "
                       "attending, PV1-9 consulting, PV1-17 admitting), and none is identified by an IDNPS "
                       f"(assigning authority {IDNPS[8:]})")
            if refuses:
                raise MappingError(f"{problem}: the refusal cannot be applied", "101", zfa.at(11))
            warnings.append(MappingError(f"{problem}: nothing changed", "101", zfa.at(11)))
        for idnps, role in professionals:
            consent = _deny(patient, when, [_actor(idnps, role)], "access") if refuses else None
            entries.append(_entry(message, zfa, f"ZFA-11:{token}:{idnps}", consent))
    return entries


def _statement(zfa: Segment, field: int, table: dict[str, bool | None], what: str,
               warnings: list[MappingError]) -> bool | None:
    """What ZFA-9 or ZFA-11 says (None: not given, or not collected, with a warning)."""
    code = zfa.get(field)
    if not code:
        return None
    if code not in table:
        raise MappingError(f"ZFA-{field} ({what}) {code!r} is not in IHE PAM France table ZFA-{field} "
                           f"({', '.join(table)})", "103", zfa.at(field))
    if table[code] is None:
        warnings.append(MappingError(f"ZFA-{field} NA: the patient's {what} was not collected: nothing changed",
                                     "0", zfa.at(field)))
    return table[code]


def _stay_professionals(message: Message) -> list[tuple[str, str]]:
    """(IDNPS, role) of the stay's professionals named in PV1 with their national identifier, each once."""
    pv1 = message.first("PV1")
    found: dict[str, str] = {}
    for field, role in STAY_PROFESSIONALS if pv1 else ():
        for number, value in enumerate(pv1.repetitions(field), start=1):
            identifier, _ = practitioner(value, pv1.at(field, number))
            if identifier and identifier.get("system") == IDNPS:
                found.setdefault(identifier["value"], role)
    return list(found.items())


def _patient_token(patient: dict) -> str:
    """`system:value` of the identifier the Patient entry is matched on."""
    request = patient["request"]
    criteria = unquote(request.get("ifNoneExist") or request["url"].partition("?")[2])
    system, _, value = criteria.removeprefix("identifier=").partition("|")
    return f"{system}:{value.replace(ESCAPED_COMMA, ',')}"


def _deny(patient: dict, when: str | None, actors: list[dict], action: str) -> dict:
    consent: dict = {
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": patient["fullUrl"]}, "policyRule": OPT_OUT}
    if when:
        consent["dateTime"] = when
    provision: dict = {"type": "deny"}
    if actors:
        provision["actor"] = actors
    provision["action"] = [{"coding": [{"system": CONSENT_ACTION, "code": action}]}]
    return {**consent, "provision": provision}


def _actor(idnps: str, role: str) -> dict:
    return {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                 "code": "PRCP"}], "text": role},
            "reference": {"identifier": {"system": IDNPS, "value": idnps}}}


def _entry(message: Message, zfa: Segment, key: str, consent: dict | None) -> dict:
    """The statement identified by `key`: written (a conditional update) or lifted (a conditional delete)."""
    criteria = "identifier=" + quote(f"{IDENTIFIER_SYSTEM}|{key.replace(',', ESCAPED_COMMA)}", safe=":/|")
    if consent is None:
        return {"request": {"method": "DELETE", "url": f"Consent?{criteria}"}}
    return {"fullUrl": message.full_url(zfa, f"Consent|{key}"),
            "resource": {"resourceType": "Consent", "identifier": [{"system": IDENTIFIER_SYSTEM, "value": key}],
                         **consent},
            "request": {"method": "PUT", "url": f"Consent?{criteria}"}}
