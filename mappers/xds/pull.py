"""The pull requests read and checked: ITI-18 Registry Stored Query (FindDocuments, GetDocuments; ITI TF-2a
3.18.4.1.2.3.7) and ITI-43 Retrieve Document Set (ITI TF-2b 3.43.4.1), turned into FHIR search values."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from ..errors import MappingError
from . import hl7
from .provide import MappingErrors
from .soap import header, q, read_message
from .tables import OID, SCHEMES, system_of
from .to_fhir import master_identifier

QUERY_ACTION = "urn:ihe:iti:2007:RegistryStoredQuery"
RETRIEVE_ACTION = "urn:ihe:iti:2007:RetrieveDocumentSet"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
QUERIES = {FIND_DOCUMENTS: "FindDocuments", GET_DOCUMENTS: "GetDocuments"}
RETURN_TYPES = ("LeafClass", "ObjectRef")
STABLE = SCHEMES["documentEntry"]["objectType"]
_STATUSES = {xds: fhir for fhir, xds in SCHEMES["availabilityStatus"].items()}
_REGISTRY, _REPOSITORY = "XDSRegistryError", "XDSRepositoryError"
_MISSING, _NUMBER = "XDSStoredQueryMissingParam", "XDSStoredQueryParamNumber"
_ITEM = re.compile(r"\s*(?:'((?:[^']|'')*)'|([^\s,'()]+))\s*(,|$)")

# Parameters of each query: name -> (required, several values allowed). Others are refused: ignoring a filter
# would answer more than was asked. $MetadataLevel 1 is the only level there is here.
_PARAMETERS = {
    "FindDocuments": {"$XDSDocumentEntryPatientId": (True, False), "$XDSDocumentEntryStatus": (True, True),
                      "$XDSDocumentEntryClassCode": (False, True), "$XDSDocumentEntryTypeCode": (False, True),
                      "$XDSDocumentEntryCreationTimeFrom": (False, False),
                      "$XDSDocumentEntryCreationTimeTo": (False, False), "$XDSDocumentEntryType": (False, True),
                      "$MetadataLevel": (False, False)},
    "GetDocuments": {"$XDSDocumentEntryUniqueId": (False, True), "$XDSDocumentEntryEntryUUID": (False, True),
                     "$homeCommunityId": (False, False), "$MetadataLevel": (False, False)},
}


@dataclass
class StoredQuery:
    """An ITI-18 request. FHIR tokens are `system|value` (a `|`, `,`, `$` or `\\` of the value escaped).
    creation_from is inclusive (search `ge`), creation_to exclusive (search `lt`)."""

    message_id: str | None
    query_id: str
    name: str                                   # FindDocuments or GetDocuments
    return_type: str                            # LeafClass or ObjectRef
    patient_id: str | None = None               # the CX as sent, e.g. 123^^^&1.2.250.1.213.1.4.8&ISO
    patient: str | None = None                  # Patient.identifier token: urn:oid:<authority>|<id>
    statuses: list[str] = field(default_factory=list)     # DocumentReference.status: current, superseded
    class_codes: list[str] = field(default_factory=list)  # DocumentReference.category tokens
    type_codes: list[str] = field(default_factory=list)   # DocumentReference.type tokens
    creation_from: str | None = None            # FHIR date/dateTime (UTC)
    creation_to: str | None = None
    unique_ids: list[str] = field(default_factory=list)   # masterIdentifier tokens
    entry_uuids: list[str] = field(default_factory=list)  # urn:uuid:..., DocumentReference.identifier values


@dataclass(frozen=True)
class DocumentRequest:
    """One xdsb:DocumentRequest: `identifier` is the masterIdentifier token of `unique_id`."""

    repository_unique_id: str
    unique_id: str
    identifier: str
    home_community_id: str | None = None


@dataclass
class RetrieveRequest:
    """An ITI-43 request: the documents asked for, in order."""

    message_id: str | None
    documents: list[DocumentRequest]


def token(system: str | None, value: str) -> str:
    """A FHIR search token `system|value`, the value's special characters escaped."""
    escaped = re.sub(r"([\\|,$])", r"\\\1", value)
    return f"{system}|{escaped}" if system else escaped


def unique_id_token(unique_id: str) -> str:
    """The masterIdentifier token of an XDS uniqueId (OID or OID^extension), as to_fhir maps it."""
    ident = master_identifier(unique_id)
    return token(ident["system"], ident["value"])


def values(slot: etree._Element) -> list[str]:
    """The values of a Slot: each rim:Value a quoted string or number, or a parenthesised list of them; a list
    may be spread over several Values (`('a',` then `'b')`). `''` inside quotes is a quote."""
    found, open_list, where = [], False, slot.get("name")
    for element in slot.iterfind(f"{q('rim', 'ValueList')}/{q('rim', 'Value')}"):
        text = (element.text or "").strip()
        if text.startswith("("):
            if open_list:
                raise MappingError(f"Slot {where}: a list opens inside a list", _REGISTRY, where)
            text, open_list = text[1:], True
        closes = open_list and text.endswith(")")
        text = text[:-1] if closes else text
        position, items = 0, 0
        while position < len(text):
            match = _ITEM.match(text, position)
            ends_with_comma = match is not None and match[3] == "," and match.end() == len(text)
            if not match or (ends_with_comma and not (open_list and not closes)):
                raise MappingError(f"Slot {where}: {element.text!r} is not a quoted value or a list of them",
                                   _REGISTRY, where)
            found.append(match[1].replace("''", "'") if match[1] is not None else match[2])
            position, items = match.end(), items + 1
        if not items:
            raise MappingError(f"Slot {where}: an empty value", _REGISTRY, where)
        open_list = open_list and not closes
    if open_list:
        raise MappingError(f"Slot {where}: a list is not closed", _REGISTRY, where)
    return found


def _read(body: bytes, content_type: str, action: str, code: str) -> tuple[etree._Element, dict, str | None]:
    """Envelope, MIME parts and MessageID; what cannot be read is refused with `code`."""
    try:
        envelope, parts = read_message(body, content_type)
    except MappingError as e:
        raise MappingError(e.message, code, e.location) from e
    message_id, found = header(envelope, "MessageID"), header(envelope, "Action")
    if found not in (None, action):
        raise MappingErrors([MappingError(f"wsa:Action is {found}, not {action}", code)], message_id)
    return envelope, parts, message_id


def parse_stored_query(body: bytes, content_type: str) -> StoredQuery:
    """The StoredQuery of an ITI-18 request. Raises MappingError when the message cannot be read, else
    MappingErrors (with the MessageID) listing every problem: XDSUnknownStoredQuery, XDSStoredQueryMissingParam,
    XDSStoredQueryParamNumber (a single-valued parameter repeated, or both GetDocuments keys), else
    XDSRegistryError."""
    envelope, _, message_id = _read(body, content_type, QUERY_ACTION, _REGISTRY)
    request = envelope.find(f"{q('soap', 'Body')}/{q('query', 'AdhocQueryRequest')}")
    query = None if request is None else request.find(q("rim", "AdhocQuery"))
    if query is None:
        raise MappingErrors([MappingError("The SOAP Body holds no AdhocQueryRequest with an AdhocQuery",
                                          _REGISTRY)], message_id)
    query_id = query.get("id", "")
    if query_id not in QUERIES:
        raise MappingErrors([MappingError(f"Stored query {query_id!r} is not supported: only FindDocuments "
                                          f"({FIND_DOCUMENTS}) and GetDocuments ({GET_DOCUMENTS})",
                                          "XDSUnknownStoredQuery", query_id)], message_id)
    name, problems = QUERIES[query_id], []
    option = request.find(q("query", "ResponseOption"))
    return_type = option.get("returnType") if option is not None else None
    if return_type not in RETURN_TYPES:
        problems.append(MappingError(f"ResponseOption returnType is {return_type!r}, not LeafClass or ObjectRef",
                                     _REGISTRY, "ResponseOption"))
    result = StoredQuery(message_id, query_id, name, return_type or "")
    parameters = _parameters(query, name, problems)
    if name == "FindDocuments":
        _find_documents(result, parameters, problems)
    else:
        _get_documents(result, parameters, problems)
    if problems:
        raise MappingErrors(problems, message_id)
    return result


def _parameters(query: etree._Element, name: str, problems: list[MappingError]) -> dict[str, list[str]]:
    """The values of each known parameter, checked against what the query accepts."""
    accepted, found = _PARAMETERS[name], {}
    for slot in query.iterchildren(q("rim", "Slot")):
        slot_name = slot.get("name", "")
        if slot_name not in accepted:
            problems.append(MappingError(f"{name}: parameter {slot_name!r} is not supported (only "
                                         f"{', '.join(accepted)})", _REGISTRY, slot_name))
            continue
        if slot_name in found:
            problems.append(MappingError(f"{name}: parameter {slot_name} is given twice", _NUMBER, slot_name))
            continue
        try:
            found[slot_name] = values(slot)
        except MappingError as e:
            problems.append(e)
            continue
        if not accepted[slot_name][1] and len(found[slot_name]) != 1:
            problems.append(MappingError(f"{name}: parameter {slot_name} takes one value, not "
                                         f"{len(found[slot_name])}", _NUMBER, slot_name))
            del found[slot_name]
    for slot_name, (required, _) in accepted.items():
        if required and slot_name not in found and not any(p.location == slot_name for p in problems):
            problems.append(MappingError(f"{name}: required parameter {slot_name} is missing", _MISSING, slot_name))
    if found.get("$MetadataLevel", ["1"]) != ["1"]:
        problems.append(MappingError(f"$MetadataLevel {found['$MetadataLevel'][0]} is not supported: only 1",
                                     "XDSRegistryMetadataError", "$MetadataLevel"))
    return found


def _find_documents(result: StoredQuery, parameters: dict[str, list[str]], problems: list[MappingError]) -> None:
    if "$XDSDocumentEntryPatientId" in parameters:
        cx = parameters["$XDSDocumentEntryPatientId"][0]
        ident = hl7.cx_to_identifier(cx)
        if not ident.get("system") or not ident.get("value"):
            problems.append(MappingError(f"$XDSDocumentEntryPatientId {cx!r} is not a CX id^^^&<oid>&ISO", _REGISTRY,
                                         "$XDSDocumentEntryPatientId"))
        else:
            result.patient_id, result.patient = cx, token(ident["system"], ident["value"])
    for status in parameters.get("$XDSDocumentEntryStatus", []):
        if status in _STATUSES:
            result.statuses.append(_STATUSES[status])
        else:
            problems.append(MappingError(f"$XDSDocumentEntryStatus {status!r} is not one of {sorted(_STATUSES)}",
                                         _REGISTRY, "$XDSDocumentEntryStatus"))
    for slot_name, codes in (("$XDSDocumentEntryClassCode", result.class_codes),
                             ("$XDSDocumentEntryTypeCode", result.type_codes)):
        for value in parameters.get(slot_name, []):
            code, _, scheme = hl7.components(value, 3)
            try:
                if not code or not scheme:
                    raise MappingError(f"{slot_name}: {value!r} is not code^^codingScheme", _REGISTRY, slot_name)
                codes.append(token(system_of(scheme, slot_name), code))
            except MappingError as e:
                problems.append(MappingError(e.message, _REGISTRY, slot_name))
    for slot_name, attribute in (("$XDSDocumentEntryCreationTimeFrom", "creation_from"),
                                 ("$XDSDocumentEntryCreationTimeTo", "creation_to")):
        if slot_name in parameters:
            try:
                setattr(result, attribute, hl7.dtm_to_fhir(parameters[slot_name][0], slot_name))
            except MappingError as e:
                problems.append(MappingError(e.message, _REGISTRY, slot_name))
    types = parameters.get("$XDSDocumentEntryType")
    if types is not None and STABLE not in types:
        problems.append(MappingError(f"$XDSDocumentEntryType {types} does not ask for stable entries ({STABLE}), "
                                     f"the only ones held", _REGISTRY, "$XDSDocumentEntryType"))


def _get_documents(result: StoredQuery, parameters: dict[str, list[str]], problems: list[MappingError]) -> None:
    unique_ids, uuids = (parameters.get(name) for name in ("$XDSDocumentEntryUniqueId", "$XDSDocumentEntryEntryUUID"))
    if unique_ids is not None and uuids is not None:
        problems.append(MappingError("GetDocuments takes $XDSDocumentEntryUniqueId or $XDSDocumentEntryEntryUUID, "
                                     "not both", _NUMBER, "$XDSDocumentEntryUniqueId"))
    elif unique_ids is None and uuids is None and not any(
            p.location in ("$XDSDocumentEntryUniqueId", "$XDSDocumentEntryEntryUUID") for p in problems):
        problems.append(MappingError("GetDocuments needs $XDSDocumentEntryUniqueId or $XDSDocumentEntryEntryUUID",
                                     _MISSING, "$XDSDocumentEntryUniqueId"))
    for value in unique_ids or []:
        if OID.fullmatch(value.partition("^")[0]):
            result.unique_ids.append(unique_id_token(value))
        else:
            problems.append(MappingError(f"$XDSDocumentEntryUniqueId {value!r} is not an OID or OID^extension",
                                         _REGISTRY, "$XDSDocumentEntryUniqueId"))
    for value in uuids or []:
        if re.fullmatch(r"urn:uuid:[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", value):
            result.entry_uuids.append(value.lower())
        else:
            problems.append(MappingError(f"$XDSDocumentEntryEntryUUID {value!r} is not a urn:uuid", _REGISTRY,
                                         "$XDSDocumentEntryEntryUUID"))


def parse_retrieve(body: bytes, content_type: str) -> RetrieveRequest:
    """The RetrieveRequest of an ITI-43 request (SOAP 1.2, plain or MTOM). Raises MappingError when the
    message cannot be read, else MappingErrors (with the MessageID): XDSUnknownRepositoryId for a repository id
    that is no OID, XDSDocumentUniqueIdError for a document uniqueId that is no OID[^extension], else
    XDSRepositoryError. Whether the repository is this one is the caller's to check."""
    envelope, _, message_id = _read(body, content_type, RETRIEVE_ACTION, _REPOSITORY)
    request = envelope.find(f"{q('soap', 'Body')}/{q('xdsb', 'RetrieveDocumentSetRequest')}")
    elements = [] if request is None else list(request.iterchildren(q("xdsb", "DocumentRequest")))
    if not elements:
        raise MappingErrors([MappingError("The SOAP Body holds no RetrieveDocumentSetRequest with a "
                                          "DocumentRequest", _REPOSITORY)], message_id)
    documents, problems = [], []
    for n, element in enumerate(elements, 1):
        where = f"DocumentRequest[{n}]"
        repository, unique_id, home = (
            (element.findtext(q("xdsb", name)) or "").strip() or None
            for name in ("RepositoryUniqueId", "DocumentUniqueId", "HomeCommunityId"))
        if repository is None or unique_id is None:
            problems.append(MappingError(f"{where}: RepositoryUniqueId and DocumentUniqueId are required",
                                         _REPOSITORY, where))
        elif not OID.fullmatch(repository):
            problems.append(MappingError(f"{where}: RepositoryUniqueId {repository!r} is not an OID",
                                         "XDSUnknownRepositoryId", where))
        elif not OID.fullmatch(unique_id.partition("^")[0]):
            problems.append(MappingError(f"{where}: DocumentUniqueId {unique_id!r} is not an OID or OID^extension",
                                         "XDSDocumentUniqueIdError", where))
        else:
            documents.append(DocumentRequest(repository, unique_id, unique_id_token(unique_id), home))
    if problems:
        raise MappingErrors(problems, message_id)
    return RetrieveRequest(message_id, documents)
