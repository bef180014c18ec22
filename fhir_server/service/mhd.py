"""IHE MHD Document Recipient: the checks of ITI-65 Provide Document Bundle, with France's PDSm rules.

A transaction is an ITI-65 Provide Document Bundle when it holds a SubmissionSet (a List coded
`submissionset`) or declares an MHD or PDSm ProvideBundle profile. Before anything is written it must have
(MHD 2:3.65.4.1.3, PDSm's Comprehensive Metadata option):
- exactly one SubmissionSet, whose entries name every DocumentReference of the Bundle;
- the same subject (the patient, after references are resolved) on the SubmissionSet and every document;
- for each DocumentReference: a unique id (masterIdentifier) not used by another document of the Bundle
  or of the store, type, category, securityLabel, and content whose attachment points at a Binary of the
  Bundle, with the size and SHA-1 hash of that Binary's bytes; the type from JDV_J66-TypeCode-DMP and the
  category from JDV_J57-ClassCode-DMP (profiles/pdsm-value-sets.json);
- no Binary that no DocumentReference points at.
A failure is a 422 whose OperationOutcome issues carry the XDS error code (XDSRegistryMetadataError,
XDSPatientIdDoesNotMatch, XDSMissingDocument, XDSMissingDocumentMetadata, XDSNonIdenticalHash,
XDSNonIdenticalSize, XDSRegistryDuplicateUniqueIdInMessage, XDSDuplicateUniqueIdInRegistry) in
`details.text`, as MHD maps XDS RegistryErrors to OperationOutcome.

A DocumentReference that `replaces` another (`relatesTo`) supersedes it in the same transaction, as in any
transaction (service/lifecycle.py).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from ..errors import FhirError
from ..storage.claims import LEASE, Taken
from ..storage.document_ids import key, unique_id
from ..storage.readers import ServerLookup

MHD = "https://profiles.ihe.net/ITI/MHD"
LIST_TYPES = f"{MHD}/CodeSystem/MHDlistTypes"
PROVIDE_PROFILES = (f"{MHD}/StructureDefinition/IHE.MHD.", "https://interop.esante.gouv.fr/ig/fhir/pdsm/")
VALUE_SETS = Path(__file__).resolve().parents[2] / "profiles" / "pdsm-value-sets.json"
UNIQUE_IDS = ServerLookup("documents' unique ids")  # whether a claim's document is still stored: told to no one


class MhdError(FhirError):
    """An ITI-65 rule broken: 422 with the XDS error code of each problem."""

    status, code = 422, "processing"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems

    def outcome(self) -> dict:
        return {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "processing", "details": {"text": xds_code}, "diagnostics": message}
            for xds_code, message in self.problems]}


def is_provide_bundle(bundle: dict, resources: list[dict]) -> bool:
    profiles = (bundle.get("meta") or {}).get("profile") or []
    declared = any(isinstance(p, str) and p.startswith(PROVIDE_PROFILES) and "Provide" in p for p in profiles)
    return declared or any(_is_submission_set(r) for r in resources)


def check_provide_bundle(store, rules, entries: list, taken: Taken) -> None:
    """Checks the entries (bundles.Entry, references resolved) of a Provide Document Bundle; raises MhdError
    listing every problem. Each document's unique id is claimed for it (storage/document_ids.py), in
    `taken`, which the caller gives back should the transaction not be written.
    What a document `replaces` is superseded by the transaction (service/lifecycle.py)."""
    problems: list[tuple[str, str]] = []
    written = [e for e in entries if e.resource is not None and e.method in ("POST", "PUT") and e.target]
    lists = [e for e in written if _is_submission_set(e.resource)]
    documents = [e for e in written if e.resource.get("resourceType") == "DocumentReference"]
    binaries = {f"Binary/{e.target[1]}": e.resource for e in written if e.resource.get("resourceType") == "Binary"}
    if len(lists) != 1:
        problems.append(("XDSRegistryMetadataError", f"A Provide Document Bundle holds exactly one SubmissionSet "
                                                     f"(a List coded {LIST_TYPES}|submissionset), not {len(lists)}"))
    if not documents:
        problems.append(("XDSRegistryMetadataError", "A Provide Document Bundle holds at least one DocumentReference"))
    subjects = {_reference(e.resource.get("subject")) for e in lists + documents}
    if len(subjects) > 1 or None in subjects:
        problems.append(("XDSPatientIdDoesNotMatch", "The SubmissionSet and every DocumentReference must name the "
                                                     f"same subject, not {sorted(str(s) for s in subjects)}"))
    if lists:
        listed = {_reference(item.get("item")) for item in lists[0].resource.get("entry") or []}
        for entry in documents:
            if f"DocumentReference/{entry.target[1]}" not in listed:
                problems.append(("XDSRegistryMetadataError", f"Bundle.entry[{entry.index}]: the SubmissionSet's "
                                                             f"entries do not name this DocumentReference"))
    used: set[str] = set()
    unique_ids: dict[str, int] = {}
    for entry in documents:
        where = f"Bundle.entry[{entry.index}]"
        problems += _document_problems(entry.resource, where, binaries, used)
        unique = (entry.resource.get("masterIdentifier") or {}).get("value")
        if unique in unique_ids:
            problems.append(("XDSRegistryDuplicateUniqueIdInMessage",
                             f"{where}: unique id {unique} is also that of Bundle.entry[{unique_ids[unique]}]"))
        elif unique:
            unique_ids[unique] = entry.index
            if _taken(store, rules, unique_id(entry.resource), f"DocumentReference/{entry.target[1]}", taken):
                problems.append(("XDSDuplicateUniqueIdInRegistry", f"{where}: a document with unique id {unique} "
                                                                   f"is already stored"))
    for reference in binaries:
        if reference not in used:
            problems.append(("XDSMissingDocumentMetadata", f"{reference} is not the content of any DocumentReference"))
    if problems:
        raise MhdError(problems)


def _taken(store, rules, found: tuple[str, str], holder: str, taken: Taken) -> bool:
    """Whether another document holds this unique id for the caller: one they may see, or their own push of
    it still under way. Otherwise the id is claimed for `holder` (added to `taken`) when it is free or its
    claim was given up (its document deleted, its id changed, or never written); a claim held by a document
    the caller may not see, or by another's push under way, leaves the id unclaimed and the document
    accepted, as if that other document did not exist."""
    ids = store.document_ids
    for _ in range(3):
        now = datetime.now(timezone.utc)
        held = ids.claim(key(*found), holder, rules.me, now)
        if held is None or held["holder"] == holder:
            if held is None:
                taken.add(ids, key(*found), holder)
            return False
        other = held["holder"].partition("/")[2]
        stored = store.current("DocumentReference", other, reader=UNIQUE_IDS)
        if stored is None and now - held["at"] < LEASE:
            return held["by"] == rules.me
        if stored is not None and not stored.deleted and unique_id(stored.resource) == found:
            return rules.visible(stored)  # what the caller's own read would show
        if ids.take_over(held, holder, rules.me, now):
            taken.add(ids, key(*found), holder)
            return False
    raise RuntimeError(f"the claim of unique id {found[1]} keeps changing")


def _document_problems(document: dict, where: str, binaries: dict[str, dict], used: set[str]) -> list:
    problems = []
    for element in ("masterIdentifier", "type", "category", "securityLabel", "subject"):
        if not document.get(element):
            problems.append(("XDSRegistryMetadataError", f"{where}: DocumentReference.{element} is required"))
    value_sets = _value_sets()
    for element, value_set in (("type", "type"), ("category", "category")):
        concepts = document.get(element)
        codings = [c for cc in (concepts if isinstance(concepts, list) else [concepts]) if isinstance(cc, dict)
                   for c in cc.get("coding") or []]
        allowed = value_sets.get(value_set)
        if allowed and codings and not any((c.get("system"), c.get("code")) in allowed for c in codings):
            problems.append(("XDSRegistryMetadataError", f"{where}: DocumentReference.{element} is not in "
                                                         f"{value_sets[value_set + '-name']}"))
    for n, content in enumerate(document.get("content") or []):
        attachment = content.get("attachment") or {}
        url = attachment.get("url")
        binary = binaries.get(url)
        if binary is None:
            problems.append(("XDSMissingDocument", f"{where}: content[{n}].attachment.url {url!r} is not a Binary "
                                                   f"of the Bundle"))
            continue
        used.add(url)
        data = _bytes(binary)
        if "size" not in attachment or "hash" not in attachment:
            problems.append(("XDSRegistryMetadataError", f"{where}: content[{n}].attachment needs size and hash"))
            continue
        if data is not None and attachment["size"] != len(data):
            problems.append(("XDSNonIdenticalSize", f"{where}: content[{n}].attachment.size is {attachment['size']}"
                                                    f" but the Binary holds {len(data)} bytes"))
        if data is not None and attachment["hash"] != base64.b64encode(hashlib.sha1(data).digest()).decode():
            problems.append(("XDSNonIdenticalHash", f"{where}: content[{n}].attachment.hash is not the SHA-1 of the "
                                                    f"Binary's bytes"))
    return problems


def _bytes(binary: dict) -> bytes | None:
    try:
        return base64.b64decode(binary.get("data") or "", validate=True)
    except (binascii.Error, ValueError):
        return None  # the Binary's own validation reports it


def _is_submission_set(resource: dict) -> bool:
    if resource.get("resourceType") != "List":
        return False
    codings = ((resource.get("code") or {}).get("coding")) or []
    return any(c.get("system") == LIST_TYPES and c.get("code") == "submissionset" for c in codings)


def _reference(value: object) -> str | None:
    return value.get("reference") if isinstance(value, dict) else None


@lru_cache(maxsize=1)
def _value_sets() -> dict:
    """{"type": {(system, code)...}, "type-name": ..., "category": ...} from profiles/pdsm-value-sets.json."""
    data = json.loads(VALUE_SETS.read_text(encoding="utf-8"))
    result: dict = {}
    for element in ("type", "category"):
        result[element] = {(c["system"], c["code"]) for c in data[element]["concepts"]}
        result[f"{element}-name"] = data[element]["name"]
    return result
