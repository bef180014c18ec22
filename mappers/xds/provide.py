"""ITI-41 Provide and Register Document Set-b: the request read and checked (ITI TF-2 3.41, TF-3 4.2)."""
from __future__ import annotations

import base64
import binascii
import hashlib
from collections import Counter

from lxml import etree

from ..errors import MappingError
from .ebrim import METADATA, Reader, read_document_entry
from .metadata import DocumentEntry, Submission
from .soap import header, included, q, read_message
from .tables import OID, SCHEMES, SUBMISSION_SET

ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
_UNREADABLE = "XDSRepositoryMetadataError"


class MappingErrors(MappingError):
    """The problems found in a request: `errors` lists them (the first gives `code`), `message_id` is the
    request's wsa:MessageID, which the answer relates to."""

    def __init__(self, errors: list[MappingError], message_id: str | None) -> None:
        super().__init__("; ".join(e.message for e in errors), errors[0].code, errors[0].location)
        self.errors = errors
        self.message_id = message_id


def parse_provide_and_register(body: bytes, content_type: str) -> Submission:
    """The Submission of an ITI-41 request (SOAP 1.2, plain or MTOM/XOP). Raises MappingError when the
    message is no SOAP Envelope, else MappingErrors listing each problem with its XDS error code."""
    envelope, parts = read_message(body, content_type)
    message_id, action = header(envelope, "MessageID"), header(envelope, "Action")
    if action not in (None, ACTION):
        raise MappingErrors([MappingError(f"wsa:Action is {action}, not {ACTION}", _UNREADABLE)], message_id)
    request = envelope.find(f"{q('soap', 'Body')}/{q('xdsb', 'ProvideAndRegisterDocumentSetRequest')}")
    objects = None if request is None else request.find(
        f"{q('lcm', 'SubmitObjectsRequest')}/{q('rim', 'RegistryObjectList')}")
    if objects is None:
        raise MappingErrors([MappingError("The SOAP Body holds no ProvideAndRegisterDocumentSetRequest with a "
                                          "SubmitObjectsRequest", _UNREADABLE)], message_id)
    problems: list[MappingError] = []
    submission = _submission(objects, problems)
    contents = _documents(request, parts, problems)
    if submission is not None:
        submission.message_id = message_id
        _check(submission, contents, {e.get("id") for e in objects.iterchildren(q("rim", "ExtrinsicObject"))},
               problems)
    if problems:
        raise MappingErrors(problems, message_id)
    return submission


def _submission(objects: etree._Element, problems: list[MappingError]) -> Submission | None:
    classified: dict[str, list[etree._Element]] = {}
    for classification in objects.iterchildren(q("rim", "Classification")):
        classified.setdefault(classification.get("classifiedObject"), []).append(classification)
    packages = list(objects.iterchildren(q("rim", "RegistryPackage")))
    nodes = [{c.get("classificationNode") for c in
              [*package.iterchildren(q("rim", "Classification")), *classified.get(package.get("id"), [])]}
             for package in packages]
    if any(SCHEMES["folder"]["classificationNode"] in found for found in nodes):
        problems.append(MappingError("Folders are not supported", METADATA))
    sets = [package for package, found in zip(packages, nodes) if SUBMISSION_SET["classificationNode"] in found]
    if len(sets) != 1:
        problems.append(MappingError(f"The request holds {len(sets)} SubmissionSets, not one", METADATA))
        return None
    read = Reader(sets[0], problems, classified.get(sets[0].get("id"), []))
    unique_id = read.external(SUBMISSION_SET["uniqueId"], "uniqueId")
    source_id = read.external(SUBMISSION_SET["sourceId"], "sourceId")
    for name, value in (("uniqueId", unique_id), ("sourceId", source_id)):
        if value is not None and not OID.fullmatch(value):
            read.problem(f"{name} {value!r} is not an OID")
    authors = read.authors(SUBMISSION_SET["author"])
    if len(authors) > 1 or any(len(author.institutions) > 1 for author in authors):
        read.problem("a SubmissionSet has at most one author, with at most one authorInstitution: a List has one "
                     "source")
    entries = [read_document_entry(element, problems, classified.get(element.get("id"), []))
               for element in objects.iterchildren(q("rim", "ExtrinsicObject"))]
    submission = Submission(
        message_id=None, entry_id=read.where, unique_id=unique_id, source_id=source_id,
        patient_id=read.cx(read.external(SUBMISSION_SET["patientId"], "patientId"), "patientId"),
        submission_time=read.time("submissionTime"),
        content_type=read.code(SUBMISSION_SET["contentTypeCode"], "contentTypeCode"),
        authors=authors, documents=[e for e in entries if e is not None],
        contents={}, title=read.text("Name"), comments=read.text("Description"))
    _associations(objects, submission, problems)
    return submission


def _associations(objects: etree._Element, submission: Submission, problems: list[MappingError]) -> None:
    """HasMember from the SubmissionSet to each DocumentEntry; RPLC, XFRM, APND, signs from a new
    DocumentEntry to a registered one (its entryUUID)."""
    entries = {entry.entry_id: entry for entry in submission.documents}
    new = {element.get("id") for element in objects.iterchildren(q("rim", "ExtrinsicObject"))}
    members = set()
    for association in objects.iterchildren(q("rim", "Association")):
        kind, source, target = (association.get(name) for name in ("associationType", "sourceObject", "targetObject"))
        where = association.get("id") or "Association"
        if kind == SCHEMES["hasMember"] and source == submission.entry_id and target in new:
            members.add(target)
        elif kind in SCHEMES["relatesTo"] and source in new and (target or "").startswith("urn:uuid:"):
            if source in entries:
                entries[source].relations.append((SCHEMES["relatesTo"][kind], target))
        else:
            problems.append(MappingError(f"{where}: {kind} from {source} to {target} is not supported: only HasMember "
                                         f"from the SubmissionSet to a DocumentEntry of the request, and "
                                         f"{', '.join(SCHEMES['relatesTo'])} from one to a registered entryUUID",
                                         METADATA, where))
    for entry_id in sorted(new - members):
        problems.append(MappingError(f"{entry_id}: the DocumentEntry is not a member (HasMember) of the SubmissionSet",
                                     METADATA, entry_id))


def _documents(request: etree._Element, parts: dict[str, bytes],
               problems: list[MappingError]) -> dict[str, bytes | None]:
    """The bytes of each xdsb:Document, inline base64 or an xop:Include, by id (None when unreadable)."""
    contents: dict[str, bytes | None] = {}
    for document in request.iterchildren(q("xdsb", "Document")):
        where = document.get("id") or "Document"
        try:
            data = included(document, parts)
            if data is None:
                data = base64.b64decode("".join((document.text or "").split()), validate=True)
        except binascii.Error as e:
            problems.append(MappingError(f"{where}: the document is not valid base64: {e}", _UNREADABLE, where))
            data = None
        except MappingError as e:
            problems.append(MappingError(f"{where}: {e.message}", e.code, where))
            data = None
        if where in contents:
            problems.append(MappingError(f"{where}: two documents have this id", _UNREADABLE, where))
        contents[where] = data
    return contents


def _check(submission: Submission, contents: dict[str, bytes | None], entry_ids: set[str],
           problems: list[MappingError]) -> None:
    """Each DocumentEntry has its document and the other way round, with the size and hash it declares; one
    patient; uniqueIds OIDs (or OID^extension) not repeated."""
    for entry_id in sorted(set(contents) - entry_ids):
        problems.append(MappingError(f"{entry_id}: the document has no DocumentEntry", "XDSMissingDocumentMetadata",
                                     entry_id))
    for entry_id in sorted(entry_ids - set(contents)):
        problems.append(MappingError(f"{entry_id}: the DocumentEntry has no document", "XDSMissingDocument", entry_id))
    repeated = {unique for unique, count in Counter(e.unique_id for e in submission.documents).items() if count > 1}
    for entry in submission.documents:
        _check_entry(entry, submission, repeated, problems)
        if contents.get(entry.entry_id) is not None:
            submission.contents[entry.entry_id] = _checked_content(entry, contents[entry.entry_id], problems)


def _check_entry(entry: DocumentEntry, submission: Submission, repeated: set[str],
                 problems: list[MappingError]) -> None:
    where = entry.entry_id
    if submission.patient_id and entry.patient_id != submission.patient_id:
        problems.append(MappingError(f"{where}: patientId {entry.patient_id} is not the SubmissionSet's "
                                     f"{submission.patient_id}", "XDSPatientIdDoesNotMatch", where))
    if not OID.fullmatch(entry.unique_id.partition("^")[0]):
        problems.append(MappingError(f"{where}: uniqueId {entry.unique_id!r} is not an OID or OID^extension",
                                     METADATA, where))
    if entry.unique_id in repeated:
        problems.append(MappingError(f"{where}: uniqueId {entry.unique_id} is that of another DocumentEntry of the "
                                     f"request", "XDSRegistryDuplicateUniqueIdInMessage", where))


def _checked_content(entry: DocumentEntry, data: bytes, problems: list[MappingError]) -> bytes:
    """`data`, once the declared size and hash are those of the document; they are then set from it."""
    digest = hashlib.sha1(data).hexdigest()
    if entry.size is not None and entry.size != len(data):
        problems.append(MappingError(f"{entry.entry_id}: size is {entry.size} but the document has {len(data)} bytes",
                                     "XDSNonIdenticalSize", entry.entry_id))
    if entry.hash is not None and entry.hash.lower() != digest:
        problems.append(MappingError(f"{entry.entry_id}: hash {entry.hash} is not the SHA-1 of the document "
                                     f"({digest})", "XDSNonIdenticalHash", entry.entry_id))
    entry.size, entry.hash = len(data), digest
    return data
