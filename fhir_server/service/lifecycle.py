"""The life of a patient's document: one set of rules whatever channel it came through.

FHIR REST and transactions, MHD ITI-65, HL7 v2 (MDM, ORU), CDA R2, XDS.b ITI-41 and imports all reach it: the
mappers (mappers/) express each step in FHIR, this module applies it inside the transaction that carries it,
under the writer's rules (access/policy.py), audited and notified as any write.
- **Provided**: a DocumentReference (and its Binary).
- **Replaced**: a new DocumentReference whose `relatesTo` `replaces` the old one (HL7 v2 T10 / ORC-1 RO, CDA
  RPLC, XDS RPLC association). In the same transaction the old one's status becomes `superseded`. The old
  one must be a current document of the same record that the writer may see and that it wrote (the ANS lets
  only a document's author replace or delete it). Other relations (`appends`, `transforms`, `signs`) are kept
  as given.
- **Withdrawn** (the DMP's deletion; HL7 v2 T04 / ORC-1 CA, XDS ITI-57 Deleted): its status becomes
  `entered-in-error`, by its writer only; it is then seen by its writer alone. A withdrawal by identifier
  (`PUT DocumentReference?identifier=...`, or a conditional JSON Patch of the status as PDSm's metadata
  update and XDS ITI-57 are) that matches no document is refused, never stored as a new document.
A document named by identifier (a conditional reference `DocumentReference?identifier=...`, or
`Reference.identifier`) is looked up under the writer's rules: one it may not see is unknown, as one that
does not exist. An identifier several documents share (a CDA setId, kept as an identifier by every version)
names the one whose unique id (masterIdentifier) it is. A refusal is a `DocumentRefused` (errors.py): its
reason (`details.coding`) and XDS error code (`details.text`) let each channel answer in its own terms (HL7 v2
ERR-5, XDS RegistryError).
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode

from ..access.policy import WITHDRAWN, record_id
from ..errors import DocumentRefused
from .search import matching

if TYPE_CHECKING:
    from ..storage.resources import StoredVersion
    from .resources import Planned, ResourceService

_CONDITIONAL = "DocumentReference?"
_SHARED_BY_AT_MOST = 100  # the versions of a document looked through for the one an identifier names


def resolve_targets(service: ResourceService, document: dict, where: str) -> None:
    """Points, in place, the `relatesTo` targets a document names by identifier at the stored documents
    (`DocumentReference/<id>`); refuses a target the writer may not see or that does not exist."""
    for n, relation in enumerate(document.get("relatesTo") or []):
        target = relation.get("target") if isinstance(relation, dict) else None
        criteria = _criteria(target) if isinstance(target, dict) else None
        if criteria is None:
            continue
        matches = conditional_matches(service, "DocumentReference", criteria)
        if len(matches) != 1:
            named = criteria.removeprefix("identifier=")
            raise DocumentRefused("unknown", f"{where}DocumentReference.relatesTo[{n}].target: no document with "
                                             f"identifier {named} is known (the document this one "
                                             f"{relation.get('code', 'relates to')} must be stored first)")
        relation["target"] = {**target, "reference": f"DocumentReference/{matches[0].id}"}


def conditional_matches(service: ResourceService, resource_type: str, criteria: str) -> list[StoredVersion]:
    """What a conditional update or delete matches (at most 2 are told apart), of documents sharing an
    identifier the one whose unique id it is."""
    if resource_type != "DocumentReference":
        return matching(service.store, service.access(), resource_type, criteria, limit=2)
    return _by_unique_id(matching(service.store, service.access(), resource_type, criteria,
                                  limit=_SHARED_BY_AT_MOST), criteria)[:2]


def _by_unique_id(matches: list[StoredVersion], criteria: str) -> list[StoredVersion]:
    """Of the documents an identifier matches, the one whose masterIdentifier it is when there are several (all
    of them when it is none's: they stay ambiguous)."""
    tokens = parse_qs(criteria).get("identifier", [])
    if len(matches) < 2 or len(tokens) != 1:
        return matches
    system, bar, value = tokens[0].replace("\\,", ",").rpartition("|")
    named = [m for m in matches if ((m.resource or {}).get("masterIdentifier") or {}).get("value") == value
             and (not bar or (m.resource or {})["masterIdentifier"].get("system") == system)]
    return named or matches


def _criteria(target: dict) -> str | None:
    reference = target.get("reference")
    if isinstance(reference, str) and reference.startswith(_CONDITIONAL):
        return reference[len(_CONDITIONAL):]
    identifier = target.get("identifier")
    if reference is None and isinstance(identifier, dict) and identifier.get("value"):
        system = identifier.get("system")
        return urlencode([("identifier", f"{system}|{identifier['value']}" if system else identifier["value"])])
    return None


def replaces(document: dict) -> bool:
    """Whether a DocumentReference replaces another (however it names it)."""
    return any(isinstance(r, dict) and r.get("code") == "replaces" for r in document.get("relatesTo") or [])


def replaced(document: dict) -> list[str]:
    """The ids of the stored documents a DocumentReference (its references resolved) `replaces`."""
    ids = []
    for relation in document.get("relatesTo") or []:
        reference = str(((relation or {}).get("target") or {}).get("reference") or "")
        if (relation or {}).get("code") == "replaces" and reference.startswith("DocumentReference/"):
            ids.append(reference.split("/", 1)[1])
    return ids


def supersede(service: ResourceService, document_id: str, record: str | None) -> Planned:
    """The write marking a replaced document `superseded`, once the rules of replacement hold (its author's
    alone: access/policy.py). `record`: the patient whose record the replacement belongs to."""
    where = f"DocumentReference/{document_id}, which this document replaces,"
    current = service.store.current("DocumentReference", document_id, reader=service.access())
    if current is None or current.deleted:
        raise DocumentRefused("unknown", f"{where} is not known")
    if (current.resource or {}).get("status") != "current":
        raise DocumentRefused("not-current", f"{where} is not current (it was replaced or withdrawn already): "
                                             f"a replacement replaces the latest version")
    if record_id("DocumentReference", document_id, current.index) != record:
        raise DocumentRefused("other-record", f"{where} is in another patient's record")
    return service.plan_update("DocumentReference", document_id, {**current.resource, "status": "superseded"})


def check_withdrawal(resource_type: str, resource: object, criteria: str) -> None:
    """A conditional update that matched nothing: if it withdraws a document (`entered-in-error`), it is
    refused rather than stored as a new document."""
    if resource_type == "DocumentReference" and isinstance(resource, dict) and resource.get("status") == WITHDRAWN:
        raise DocumentRefused("unknown", f"No document matches '{criteria}': there is nothing to withdraw")


def check_status_patch(resource_type: str, operations: object, criteria: str) -> None:
    """A conditional JSON Patch that matched nothing: if it changes a document's status (a withdrawal, a
    deprecation), it is refused as naming an unknown document."""
    statuses = [op.get("value") for op in operations if isinstance(op, dict) and op.get("path") == "/status"
                and op.get("op") in ("add", "replace")] if isinstance(operations, list) else []
    if resource_type == "DocumentReference" and statuses:
        action = "withdraw" if WITHDRAWN in statuses else f"mark {statuses[-1]}"
        raise DocumentRefused("unknown", f"No document matches '{criteria}': there is nothing to {action}")
