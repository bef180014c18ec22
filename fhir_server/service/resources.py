"""The FHIR REST interactions on single resources (FHIR R4 http.html), with no web framework.

Plain data in (types, ids, parsed resources), `WriteResult` / `StoredVersion` out; errors are raised
as `FhirError`s that carry their HTTP status.
"""
from __future__ import annotations

import base64
import binascii
import copy
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode

import jsonpatch
import jsonpointer

from validation import validate_resource

from ..errors import (BadRequest, Conflict, Forbidden, Gone, NotFound, PayloadTooLarge,
                      PreconditionFailed, Unprocessable, information)
from ..registry import RESOURCES
from ..search.values import index_fields
from ..storage.resources import ResourceStore, ResourceTooLarge, StoredVersion, VersionConflict
from ..access import NoCallerRules
from ..access.consents import with_confidentiality
from ..access.policy import Notify, RecordAccess, record_id
from ..auth.patients import welcome
from ..storage.claims import LEASE, Taken, claim_key
from ..storage.readers import ServerLookup
from ..storage.records import Records
from ..storage.transactions import Write
from .profiles import claimed, profile_issues
from .checks import check_id, check_type
from .ids import new_id
from .lifecycle import check_withdrawal, conditional_matches
from .search import matching

HIDDEN_PATIENT = ServerLookup("whether a Patient hidden from the caller exists")  # told as a refusal only
CONDITIONAL = ServerLookup("conditional creates")  # whether a claim's resource still matches: told to no one
CREATE_WAIT = 5.0  # seconds a conditional create waits for a racing one with the same criteria to be written


@dataclass
class Planned:
    """A write checked and ready (`write`), or nothing to write: a conditional create that matched
    (`existing`), a deletion of nothing (`message`)."""
    write: Write | None
    created: bool = False
    existing: StoredVersion | None = None
    if_match: bool = False  # a concurrent write is then a 412, not a 409
    message: str = ""
    taken: Taken = field(default_factory=Taken)  # claims given back should the write not be done

    def outcome(self, deleted: StoredVersion | None = None) -> dict:
        """The OperationOutcome a DELETE answers."""
        if deleted is not None:
            return information(f"Deleted {deleted.type}/{deleted.id} (version {deleted.version})")
        return information(self.message)


@dataclass
class WriteResult:
    version: StoredVersion
    created: bool = False
    changed: bool = True  # False when a conditional create matched an existing resource


class ResourceService:
    def __init__(self, store: ResourceStore, notify: Notify | None = None, rules: RecordAccess | None = None) -> None:
        """`notify(patient id, kind, time, key)` queues a notification for the patient. `rules`: the caller
        served (see `acting_for`); the server-wide service has none and refuses to read or write."""
        self.store = store
        self.records = Records(store.db)
        self.notify = notify
        self.rules = rules

    def acting_for(self, rules: RecordAccess) -> "ResourceService":
        """This service for one caller: every interaction applies `rules` (a request's, or a job's system
        principal: `RecordAccess.for_job`)."""
        view = copy.copy(self)
        view.rules = rules
        return view

    # -- reads ---------------------------------------------------------------------------------
    def read(self, resource_type: str, resource_id: str) -> StoredVersion:
        check_type(resource_type, "read")
        check_id(resource_id)
        # a deletion too is judged by the rules: what the caller may not see was never there
        current = self.store.current(resource_type, resource_id, reader=self.access())
        if current is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        if current.deleted:
            raise Gone(f"{resource_type}/{resource_id} was deleted",
                       headers={"ETag": f'W/"{current.version}"'})
        return current

    def vread(self, resource_type: str, resource_id: str, version_id: str) -> StoredVersion:
        check_type(resource_type, "vread")
        check_id(resource_id)
        # the resource first, before anything is said of its versions
        if self.store.current(resource_type, resource_id, reader=self.access()) is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        version = self.store.version(resource_type, resource_id, int(version_id), reader=self.access()) \
            if version_id.isdigit() else None
        if version is None:
            raise NotFound(f"{resource_type}/{resource_id} has no version '{version_id}'")
        if version.deleted:
            raise Gone(f"Version {version_id} of {resource_type}/{resource_id} is a deletion")
        return version

    def access(self) -> RecordAccess:
        """The rules of the caller being served (access/policy.py); raises when none were given (fail closed)."""
        if self.rules is None:
            raise NoCallerRules("This service serves no caller: use service.acting_for(rules)")
        return self.rules

    def full_resource(self, version: StoredVersion) -> dict:
        """The resource as clients see it: a Binary gets its content back as base64 `data`; a List, only the
        entries the caller may see."""
        resource = version.resource or {}
        if version.type == "List" and resource.get("entry"):
            resource = {**resource, "entry": [e for e in resource["entry"] if self._entry_visible(e)]}
        if version.content:
            resource = {**resource, "data": base64.b64encode(self.store.content(version)).decode("ascii")}
        return resource

    def content(self, version: StoredVersion) -> bytes:
        return self.store.content(version)

    def _entry_visible(self, entry: dict) -> bool:
        """A List entry shows a document only to whoever may see it (its existence included)."""
        reference = str((entry.get("item") or {}).get("reference") or "")
        resource_type, _, resource_id = reference.partition("/")
        if resource_type not in ("DocumentReference", "Binary") or not resource_id or "/" in resource_id:
            return True
        item = self.store.current(resource_type, resource_id, reader=self.access())
        return item is not None or not self.store.taken(resource_type, resource_id)

    # -- writes --------------------------------------------------------------------------------
    # Each write is planned first (checks and reads, nothing written), then committed: alone here, or with
    # the other entries of a transaction Bundle (service/bundles.py).
    def create(self, resource_type: str, resource: object, if_none_exist: str | None = None,
               content: bytes | None = None) -> WriteResult:
        """POST [type]; `content` carries a Binary's raw bytes when they did not come as `data`."""
        return self.commit(self.plan_create(resource_type, resource, if_none_exist, content))

    def update(self, resource_type: str, resource_id: str, resource: object, if_match: str | None = None,
               content: bytes | None = None, method: str = "PUT") -> WriteResult:
        """PUT [type]/[id], creating the resource when the id is new (update-as-create)."""
        return self.commit(self.plan_update(resource_type, resource_id, resource, if_match, content, method))

    def patch(self, resource_type: str, resource_id: str, operations: object,
              if_match: str | None = None) -> WriteResult:
        """PATCH [type]/[id] with a JSON Patch document (RFC 6902)."""
        return self.commit(self.plan_patch(resource_type, resource_id, operations, if_match))

    def conditional_update(self, resource_type: str, criteria: str, resource: object,
                           if_match: str | None = None) -> WriteResult:
        """PUT [type]?criteria: updates the one match, creates when none matches, 412 for several."""
        return self.commit(self.plan_conditional_update(resource_type, criteria, resource, if_match))

    def conditional_delete(self, resource_type: str, criteria: str) -> tuple[StoredVersion | None, dict]:
        """DELETE [type]?criteria: deletes the one match (conditionalDelete "single"), 412 for several."""
        planned = self.plan_conditional_delete(resource_type, criteria)
        written = self.commit(planned).version if planned.write else None
        return written, planned.outcome(written)

    def delete(self, resource_type: str, resource_id: str) -> tuple[StoredVersion | None, dict]:
        """DELETE [type]/[id]: writes a tombstone version; deleting nothing is not an error (R4 http.html)."""
        planned = self.plan_delete(resource_type, resource_id)
        written = self.commit(planned).version if planned.write else None
        return written, planned.outcome(written)

    def commit(self, planned: "Planned") -> WriteResult:
        """Writes one planned write (a no-op plan answers what it matched)."""
        if planned.write is None:
            return WriteResult(planned.existing, changed=False)
        write = planned.write
        try:
            with planned.taken.given_back_on_failure():
                version = self.store.write(write.type, write.id, write.resource, write.previous, write.method,
                                           write.content, write.index)
        except VersionConflict as e:
            raise (PreconditionFailed if planned.if_match else Conflict)(str(e))
        except ResourceTooLarge as e:
            raise PayloadTooLarge(str(e))
        self.created([version])
        return WriteResult(version, created=planned.created)

    def created(self, versions: list[StoredVersion]) -> None:
        """After writes: each new Patient (its first version) gets its activation letter; the access rules
        open records, apply Consents and tell patients (access/policy.py)."""
        for version in versions:
            if version.type == "Patient" and version.version == 1 and not version.deleted:
                welcome(self.store, version.id)
        self.access().written(versions)

    def plan_create(self, resource_type: str, resource: object, if_none_exist: str | None = None,
                    content: bytes | None = None, resource_id: str | None = None) -> "Planned":
        check_type(resource_type, "create")
        resource, content = self._checked(resource_type, resource, content)
        resource_id, taken = resource_id or new_id(), Taken()
        if if_none_exist is not None:
            match = self.if_none_exist(resource_type, if_none_exist, resource_id, taken)
            if match is not None:
                return Planned(None, existing=match)
        with taken.given_back_on_failure():
            index = self._permitted(resource_type, resource_id, resource, None)
        return Planned(Write(resource_type, resource_id, resource, 0, "POST", content, index), created=True,
                       taken=taken)

    def if_none_exist(self, resource_type: str, criteria: str, resource_id: str, taken: Taken) -> StoredVersion | None:
        """A conditional create's match (or that of a conditional update matching none, which creates), or
        None: create `resource_id`, for which the criteria are then claimed (in `taken`: storage/claims.py),
        so that creates racing with the same criteria on any workers or nodes write one resource; the others
        wait for it (up to CREATE_WAIT) and answer it as their match (an update: update it). A claim whose
        resource no longer matches (deleted, changed, never written) is taken over; one held by a resource
        the caller may not see leaves the criteria unclaimed, as if it did not exist (but for a Patient:
        `check_hidden_patient`). Claimed twice by one transaction: 400 (a resource appears once in it)."""
        criteria = criteria.removeprefix(f"{resource_type}?")  # some clients send `Patient?identifier=..`
        key = claim_key(f"{resource_type}?{urlencode(sorted(parse_qsl(criteria, keep_blank_values=True)))}")
        holder, claims, deadline, stored_before = f"{resource_type}/{resource_id}", self.store.create_claims, \
            time.monotonic() + CREATE_WAIT, False
        if taken.holds(claims, key):  # it would wait for itself
            raise BadRequest(f"An earlier entry of this transaction creates the {resource_type} matching "
                             f"'{criteria}': a resource appears once in a transaction")
        while True:
            matches = matching(self.store, self.access(), resource_type, criteria, limit=2)
            if len(matches) > 1:
                raise PreconditionFailed(f"'{criteria}' matches more than one {resource_type}")
            if matches:
                return matches[0]
            if resource_type == "Patient" and (appeared := self.check_hidden_patient(criteria)) is not None:
                return appeared
            now = datetime.now(timezone.utc)
            held = claims.claim(key, holder, self.access().me, now)
            if held is None:
                taken.add(claims, key, holder)
                return None
            other = held["holder"].partition("/")[2]
            # Whether the holder is stored is read before whether it matches: read the other way round, a
            # holder stored between the two reads would look changed, and its claim be taken over.
            stored = self.store.current(resource_type, other, reader=CONDITIONAL) is not None
            if stored and matching(self.store, CONDITIONAL, resource_type, f"{criteria}&_id={other}", limit=1):
                if stored_before:  # matching, yet not found by the caller's search: one they may not see
                    return None
                stored_before = True  # written meanwhile: the caller's search is run again
            elif not stored and now - held["at"] < LEASE:
                if time.monotonic() > deadline:
                    raise Conflict(f"A create of {resource_type} matching '{criteria}' is under way: send it again")
                time.sleep(0.05)
            elif claims.take_over(held, holder, self.access().me, now):
                taken.add(claims, key, holder)
                return None

    def plan_update(self, resource_type: str, resource_id: str, resource: object, if_match: str | None = None,
                    content: bytes | None = None, method: str = "PUT") -> "Planned":
        check_type(resource_type, "update" if method == "PUT" else "patch")
        check_id(resource_id)
        if isinstance(resource, dict) and resource.get("id") != resource_id:
            raise BadRequest(f"The resource's id ({resource.get('id')!r}) must equal the id in the URL "
                             f"({resource_id!r})", code="invalid")
        resource, content = self._checked(resource_type, resource, content)
        current = self.store.current(resource_type, resource_id, reader=self.access())
        if current is None and self.store.taken(resource_type, resource_id):  # as if it did not exist: 404
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        previous = current.version if current else 0
        expected = _parse_etag(if_match) if if_match is not None else None
        if expected is not None and (current is None or current.deleted or expected != current.version):
            raise PreconditionFailed(f"If-Match {if_match} does not match the current version "
                                     f"of {resource_type}/{resource_id} ({previous or 'none'})")
        index = self._permitted(resource_type, resource_id, resource, current)
        write = Write(resource_type, resource_id, resource, previous, method, content, index)
        return Planned(write, created=current is None or current.deleted, if_match=expected is not None)

    def plan_patch(self, resource_type: str, resource_id: str, operations: object,
                   if_match: str | None = None) -> "Planned":
        check_type(resource_type, "patch")
        current = self.read(resource_type, resource_id)
        if not isinstance(operations, list):
            raise BadRequest("A JSON Patch document is a JSON array of operations")
        try:
            patch = jsonpatch.JsonPatch(operations)
            patched = patch.apply(copy.deepcopy(self.full_resource(current)))
        except jsonpatch.JsonPatchTestFailed as e:
            raise Unprocessable(f"JSON Patch test failed: {e}", code="processing")
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as e:
            raise Unprocessable(f"JSON Patch cannot be applied: {e}", code="processing")
        except (jsonpatch.InvalidJsonPatch, TypeError, KeyError, ValueError) as e:
            raise BadRequest(f"Invalid JSON Patch document: {e}", code="structure")
        if not isinstance(patched, dict) or patched.get("resourceType") != resource_type \
                or patched.get("id") != resource_id:
            raise Unprocessable("A patch may not change resourceType or id", code="processing")
        return self.plan_update(resource_type, resource_id, patched, if_match=if_match, method="PATCH")

    def plan_conditional_update(self, resource_type: str, criteria: str, resource: object,
                                if_match: str | None = None) -> "Planned":
        check_type(resource_type, "update")
        matches = conditional_matches(self, resource_type, criteria)
        if len(matches) > 1:
            raise PreconditionFailed(f"'{criteria}' matches more than one {resource_type}")
        given_id, taken = _require_object(resource).get("id"), Taken()
        if not matches:  # a create, whose criteria are claimed as a conditional create's are
            check_withdrawal(resource_type, resource, criteria)
            resource_id = given_id or new_id()
            match = self.if_none_exist(resource_type, criteria, resource_id, taken)
            if match is None:
                with taken.given_back_on_failure():
                    planned = (self.plan_update(resource_type, given_id, resource, if_match) if given_id
                               else self.plan_create(resource_type, resource, resource_id=resource_id))
                planned.taken = taken
                return planned
            matches = [match]  # written meanwhile by a racing write of the same criteria: updated
        if given_id not in (None, matches[0].id):
            raise BadRequest(f"The resource's id ({given_id!r}) is not that of the resource the criteria "
                             f"match ({matches[0].id!r})")
        return self.plan_update(resource_type, matches[0].id, {**resource, "id": matches[0].id}, if_match)

    def plan_conditional_delete(self, resource_type: str, criteria: str) -> "Planned":
        check_type(resource_type, "delete")
        matches = conditional_matches(self, resource_type, criteria)
        if len(matches) > 1:
            raise PreconditionFailed(f"'{criteria}' matches more than one {resource_type}: delete one by id")
        if not matches:
            return Planned(None, message=f"No {resource_type} matches '{criteria}': nothing was deleted")
        return self.plan_delete(resource_type, matches[0].id)

    def plan_delete(self, resource_type: str, resource_id: str) -> "Planned":
        check_type(resource_type, "delete")
        check_id(resource_id)
        current = self.store.current(resource_type, resource_id, reader=self.access())
        if current is None or current.deleted:  # unknown, deleted, or not the caller's to see: all alike
            return Planned(None, message=f"{resource_type}/{resource_id} does not exist: nothing was deleted")
        kept = self.access().check_write(resource_type, resource_id, None, {}, current)  # its record and writer
        return Planned(Write(resource_type, resource_id, None, current.version, "DELETE", None, kept))

    # -- helpers -------------------------------------------------------------------------------
    def check_hidden_patient(self, criteria: str) -> StoredVersion | None:
        """A conditional create of a Patient whose criteria match only a Patient the caller may not see
        neither shows it nor makes a second record for the same person: it is refused with what the record's
        rules let the caller know (the record is not accessible to them), and that patient's activity
        history records the attempt. A match the caller may see was stored since their search ran (a racing
        create): it is returned, their match."""
        hidden = matching(self.store, HIDDEN_PATIENT, "Patient", criteria, limit=1)
        if hidden and self.access().visible(hidden[0]):  # which also names the patient for the audit trail
            return hidden[0]
        if hidden:
            raise Forbidden("This patient's record is not accessible to you (the patient's choices, or a closed "
                            "record): nothing was created")

    def _permitted(self, resource_type: str, resource_id: str, resource: dict,
                   current: StoredVersion | None) -> dict:
        """The index fields to store, once the access rules allow the write (a Consent's denials apply at
        once: see `RecordAccess.tighten_rules`)."""
        access = self.access()
        index = access.check_write(resource_type, resource_id, resource, search_index(resource_type, resource),
                                   current)
        patient_id = record_id(resource_type, resource_id, index)
        if resource_type == "Consent" and patient_id is not None:
            access.tighten_rules(patient_id, resource)
        return index

    def _checked(self, resource_type: str, resource: object, content: bytes | None) -> tuple[dict, bytes | None]:
        """Validates a resource to be written; moves a Binary's base64 `data` out into `content`."""
        if _require_object(resource).get("resourceType") != resource_type:
            raise BadRequest(f"The body is a {resource.get('resourceType')!r} but the URL says {resource_type}",
                             code="invalid")
        resource = dict(resource)
        if resource_type == "Binary" and "data" in resource:
            content = _decode_base64(resource.pop("data"))
        if resource_type == "DocumentReference":
            resource = with_confidentiality(resource)
        issues = _errors(validate_resource(resource, resource_type, invariants=True, lenient=True))
        if not issues:  # a profile is checked on valid R4 only (warnings, dom-6 on any resource without a
            issues = _errors(profile_issues(resource, claimed(resource)))  # narrative, do not stop it)
        if issues:
            raise Unprocessable(f"{resource_type} is not valid: {len(issues)} problem(s)", issues=issues,
                                reason="validation")
        return resource, content


def _errors(issues: list) -> list:
    return [i for i in issues if i.severity in ("error", "fatal")]


def _require_object(resource: object) -> dict:
    if not isinstance(resource, dict):
        raise BadRequest("The body must be a FHIR resource (a JSON object)", code="structure")
    return resource


def _decode_base64(data: object) -> bytes:
    if not isinstance(data, str):
        raise Unprocessable("Binary.data must be a base64 string", code="value")
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Unprocessable("Binary.data is not valid base64", code="value")


def _parse_etag(value: str) -> int:
    match = re.fullmatch(r'\s*(?:W/)?"?(\d+)"?\s*', value)
    if not match:
        raise BadRequest(f"If-Match '{value}' is not an ETag such as W/\"3\"")
    return int(match.group(1))


def search_index(resource_type: str, resource: dict) -> dict:
    """The search fields stored with a resource (none for types that are not searched)."""
    return index_fields(resource_type, resource) if RESOURCES[resource_type].supports("search-type") else {}
