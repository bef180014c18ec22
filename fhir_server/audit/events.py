"""AuditEvents for the server's interactions, after IHE Basic Audit Log Patterns (BALP), on FHIR R4.

The code that observes requests fills an `Access` (and its `Actor`) and calls `audit_event`:
- `type` is `rest`; `subtype` the restful-interaction code and, for an operation, its name (code system
  `OPERATIONS`); `action` as BALP fixes it: Read for read, vread and history, Create, Update (update, patch),
  Delete, and Execute for searches (BALP Query), batch, transaction and operations;
- `agent`: the client software (who.identifier = its OAuth client id; network = the caller's IP address),
  the human user when there is one (a professional by their RPPS / IDNPS identifier, with their profession
  as role; a patient as Patient/<id>; a legal representative as RelatedPerson/<id>), the professional's
  organisation (BALP's `healthcare provider` agent) and this server. DICOM's Source / Destination Role ID
  name who sends the data: in a read or vread (BALP Read) the server is the source and the client the
  destination; in every other interaction the client sends (the request, the query, the new content), as in
  BALP Create, Update, Query. The client is the requestor when no human user is named. The user agent's
  type holds `humanuser` and BALP's participation type: information recipient (IRCP), or author (AUT) when
  they create, update or delete;
- `entity`: the patient (Person / Patient; a patient id asked for that is not a FHIR id only as its
  description), each resource touched (System Object / Domain Resource), the
  query (System Object / Query; base64 in `query` as BALP asks, the text in `description`).

Break-glass: v3 ActReason's `BTG` (break the glass) is the PurposeOfUse, a specialization of `ETREAT`, for
an override of access policies (consent included) by a user not otherwise provisioned for the access: an
emergency access carries both ETREAT and BTG in `purposeOfEvent` and in the user agent's `purposeOfUse`.
BALP defines no break-glass pattern; FHIR's break-glass example (DICOM Security Alert / Emergency Override
Started) records the declaration of a break-glass period, not each access made under it, so it is not used.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..registry import OUR_CANONICAL

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
INS = "urn:oid:1.2.250.1.213.1.4.8"
PROFESSION = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
OPERATIONS = f"{OUR_CANONICAL}/CodeSystem/operation"  # code: the operation's name, no `$`

_EVENT_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
               "display": "RESTful Operation"}
_SOURCE_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                "display": "Application Server"}
_SOURCE_ROLE = {"system": DCM, "code": "110153", "display": "Source Role ID"}
_DESTINATION_ROLE = {"system": DCM, "code": "110152", "display": "Destination Role ID"}
_HUMAN_USER = {"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "code": "humanuser",
               "display": "human user"}
_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_RECIPIENT = {"system": _PARTICIPATION, "code": "IRCP", "display": "information recipient"}
_AUTHOR = {"system": _PARTICIPATION, "code": "AUT", "display": "author (originator)"}
_PROVIDER = {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "code": "PROV",
             "display": "healthcare provider"}
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_PERSON = {"system": _ENTITY_TYPE, "code": "1", "display": "Person"}
_SYSTEM_OBJECT = {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"}
_PATIENT_ROLE = {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"}
_RESOURCE_ROLE = {"system": _OBJECT_ROLE, "code": "4", "display": "Domain Resource"}
_QUERY_ROLE = {"system": _OBJECT_ROLE, "code": "24", "display": "Query"}
_ASKED_MAX = 200  # characters of an invalid patient id kept in the event
_PURPOSES = {"TREAT": "treatment", "ETREAT": "Emergency Treatment", "BTG": "break the glass"}

# restful-interaction code -> AuditEvent.action
ACTIONS = {
    "read": "R", "vread": "R", "history": "R", "history-instance": "R", "history-type": "R", "history-system": "R",
    "capabilities": "R", "search": "E", "search-type": "E", "search-system": "E", "create": "C", "update": "U",
    "patch": "U", "delete": "D", "batch": "E", "transaction": "E", "operation": "E",
}
_SERVER_SENDS = ("read", "vread")  # BALP Read: the server is the Source Role ID


@dataclass(frozen=True)
class Actor:
    kind: str                 # "professional" | "patient" | "representative" | "software" | "anonymous"
    client_id: str | None = None       # the OAuth client (referenced vendor software or patient app)
    practitioner: str | None = None    # professional's national id IDNPS (bare or "urn:oid:1.2.250.1.71.4.2.1|id")
    profession: str | None = None      # TRE_G15-ProfessionSante code
    organization: str | None = None
    patient: str | None = None         # Patient id of a patient (or of the minor a representative acts for)
    representative: str | None = None  # RelatedPerson id of a legal representative
    address: str | None = None         # network (IP) address of the caller
    purpose_of_use: str | None = None  # "TREAT" or "ETREAT" (v3 ActReason)


@dataclass
class Access:
    interaction: str   # restful-interaction code (ACTIONS)
    status: int        # HTTP status answered
    recorded: datetime # tz-aware
    actor: Actor
    patient: str | None = None         # the Patient id whose record was touched (None when none)
    entities: list[str] = field(default_factory=list)   # "Type/id" or "Type/id/_history/n" touched
    query: str | None = None           # for searches: "Type?param=value&..." as asked
    operation: str | None = None       # e.g. "everything", "close-record"
    emergency: bool = False            # break-glass access
    description: str | None = None     # why it was refused, for refusals
    asked_patient: str | None = None   # a patient id asked for that is not a FHIR id: named as text only


def audit_event(access: Access, event_id: str, server: str) -> dict:
    """The AuditEvent (R4 JSON) recording `access`, with id `event_id`, as observed by `server` (its name or
    base URL)."""
    if access.interaction not in ACTIONS:
        raise ValueError(f"Not a restful-interaction code: {access.interaction!r}")
    if access.recorded.tzinfo is None:
        raise ValueError("Access.recorded must be timezone-aware")
    subtype = [{"system": RESTFUL_INTERACTION, "code": access.interaction, "display": access.interaction}]
    if access.operation:
        subtype.append({"system": OPERATIONS, "code": access.operation, "display": f"${access.operation}"})
    event = {"resourceType": "AuditEvent", "id": event_id, "type": _EVENT_TYPE, "subtype": subtype,
             "action": ACTIONS[access.interaction], "recorded": _instant(access.recorded),
             "outcome": _outcome(access.status)}
    if access.description:
        event["outcomeDesc"] = access.description
    purposes = _purposes(access)
    if purposes:
        event["purposeOfEvent"] = purposes
    event["agent"] = _agents(access, server, purposes)
    event["source"] = {"observer": {"display": server}, "type": [_SOURCE_TYPE]}
    entities = _entities(access)
    if entities:
        event["entity"] = entities
    return event


def _instant(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _outcome(status: int) -> str:
    """audit-event-outcome: 0 success (2xx, 3xx), 4 minor failure (4xx), 8 serious failure (5xx)."""
    return "0" if status < 400 else "4" if status < 500 else "8"


def _purposes(access: Access) -> list[dict]:
    codes = ["ETREAT", "BTG"] if access.emergency else [access.actor.purpose_of_use]
    return [{"coding": [{"system": ACT_REASON, "code": code, "display": _PURPOSES[code]}]}
            for code in codes if code in _PURPOSES]


def _agents(access: Access, server: str, purposes: list[dict]) -> list[dict]:
    actor = access.actor
    server_sends = access.interaction in _SERVER_SENDS
    user = _user(access, purposes)
    client: dict = {"type": {"coding": [_DESTINATION_ROLE if server_sends else _SOURCE_ROLE]}}
    if actor.client_id:
        client["who"] = {"identifier": {"value": actor.client_id}}
    client["requestor"] = user is None
    if actor.address:
        client["network"] = {"address": actor.address, "type": "2"}  # network-type 2: IP address
    agents = [client]
    if user:
        agents.append(user)
    if actor.kind == "professional" and actor.organization:
        agents.append({"type": {"coding": [_PROVIDER]}, "who": {"identifier": {"value": actor.organization}},
                       "requestor": False})
    agents.append({"type": {"coding": [_SOURCE_ROLE if server_sends else _DESTINATION_ROLE]},
                   "who": {"display": server}, "requestor": False,
                   "network": {"address": server, "type": "5" if "://" in server else "1"}})  # URI, machine name
    return agents


def _user(access: Access, purposes: list[dict]) -> dict | None:
    """The human user's agent, or None when no person is named (software, anonymous callers)."""
    actor = access.actor
    role = None
    if actor.kind == "professional" and actor.practitioner:
        who = {"identifier": {"system": RPPS, "value": actor.practitioner.rpartition("|")[2]}}
        if actor.profession:
            role = [{"coding": [{"system": PROFESSION, "code": actor.profession}]}]
    elif actor.kind == "patient" and actor.patient:
        who = {"reference": f"Patient/{actor.patient}"}
    elif actor.kind == "representative" and actor.representative:
        who = {"identifier": {"system": INS, "value": actor.representative}}  # the representative's own INS
    else:
        return None
    participation = _AUTHOR if ACTIONS[access.interaction] in ("C", "U", "D") else _RECIPIENT
    user = {"type": {"coding": [_HUMAN_USER, participation]}}
    if role:
        user["role"] = role
    user.update(who=who, requestor=True)
    if purposes:
        user["purposeOfUse"] = purposes
    return user


def _entities(access: Access) -> list[dict]:
    entities = []
    patient = f"Patient/{access.patient}" if access.patient else None
    if patient:
        entities.append({"what": {"reference": patient}, "type": _PERSON, "role": _PATIENT_ROLE})
    if access.asked_patient is not None:
        entities.append({"type": _PERSON, "role": _PATIENT_ROLE,
                         "description": f"not a Patient id: {access.asked_patient[:_ASKED_MAX]}"})
    for reference in dict.fromkeys(access.entities):
        if reference != patient:
            entities.append({"what": {"reference": reference}, "type": _SYSTEM_OBJECT, "role": _RESOURCE_ROLE})
    if access.query:
        entities.append({"type": _SYSTEM_OBJECT, "role": _QUERY_ROLE, "description": access.query,
                         "query": base64.b64encode(access.query.encode()).decode("ascii")})
    return entities
