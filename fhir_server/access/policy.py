"""Who may see and change what in a patient's record: every rule in one place.

A `RecordAccess` is made for each request from the caller (an audit `Actor`: professional, patient or a
minor's representative); the service layer asks it about every resource it returns or writes:
- `visible(version)`: reads, vreads, history, includes, `$everything`, Bundle entries, Binary downloads;
- `search_conditions(type, query)`: what a search adds to its filter, so that totals and pages never count
  what the caller may not see;
- `check_write(...)` before a write and `written(...)` after it.

Professionals (tokens of referenced software naming a practitioner and a profession; `purpose_of_use`
TREAT attests the patient's agreement, ETREAT is emergency access) see a record when it is open, the
patient has not blocked them, and (for ETREAT) has not opposed emergency access; then the documents their
profession may read (access/matrix.py) that are not hidden from professionals (`MASQUE_PS`), and always the
documents they wrote. A Binary is seen with a document that points at it. Consents and AuditEvents are the
patient's own: professionals neither read nor search them. What a professional may not see is answered as
unknown (404, or left out of results): its existence is never revealed.
Patients (and representatives) see their own record, but for documents marked not visible to the patient
(and, for representatives, to legal representatives); while a record is closed, its documents, lists and
Binaries are seen by no one. A patient may hide or show a document (`MASQUE_PS`) and delete it, but changes
only their own documents otherwise.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone

from ..audit.events import Actor
from ..errors import Forbidden, NotFound, Unprocessable
from ..registry import RESOURCES
from ..search.registry import parameters
from ..service.compartment import patient_compartment
from ..storage.candidates import single_criteria
from ..storage.records import OPEN, Records
from ..storage.resources import ResourceStore, StoredVersion
from .consents import (HIDDEN_FROM_PATIENT, HIDDEN_FROM_PROFESSIONALS, HIDDEN_FROM_REPRESENTATIVES, consent_rules,
                       label_tokens, visibility_codes)
from .matrix import readable_types

PATIENT_OWN = ("Consent", "AuditEvent")  # never shown to professionals
CLOSED_CONTENT = ("DocumentReference", "List", "Binary")  # what a closed record hides from everyone
WRITER = "x:writer"  # index field: who wrote a resource's first version (IDNPS, or Patient/<id>)
_PATIENT_REF = re.compile(r"Patient/([A-Za-z0-9\-.]{1,64})")
_RECORD_FIELDS = ("r:patient", "r:subject")  # the references naming the patient whose record a resource is in
# patient id, notification kind, time, de-duplication key
Notify = Callable[[str, str, datetime, str | None], None]


class RecordAccess:
    def __init__(self, store: ResourceStore, records: Records, actor: Actor | None,
                 notify: Notify | None = None, pushed_for: tuple[str, ...] | None = None) -> None:
        """`actor` None: no caller restrictions (the server's own jobs). `pushed_for`: a server-side push (an
        import, an MLLP message) made for these professionals (IDNPS, the documents' authors): a patient who
        blocked one of them refuses it, and is told of the documents it adds or changes, as for a
        professional's own push."""
        self.store, self.records, self.actor = store, records, actor
        self.pushed_for = pushed_for
        self.notify = notify or (lambda *args: None)
        self._records: dict[str, dict | None] = {}
        self._documents: dict[str, list[StoredVersion]] = {}
        self.touched: dict[str, list[str]] = {}  # "Type/id" the caller saw or wrote -> whose records hold it
        self.patients: dict[str, None] = {}  # whose records the caller reached
        self.emergency = False  # whether an emergency access opened a record
        self._told: set[str] = set()
        self._lifted: dict[str, None] = {}  # patients whose Consent is being deleted: their rules are recomputed

    # -- who -----------------------------------------------------------------------------------
    @property
    def professional(self) -> bool:
        return self.actor is not None and self.actor.kind == "professional"

    @property
    def me(self) -> str:
        """How this caller is named as a writer (a server-side push: by its first author)."""
        if self.professional:
            return str(self.actor.practitioner).rpartition("|")[2]
        if self.actor is None:
            return self.pushed_for[0] if self.pushed_for else ""
        return f"Patient/{self.actor.patient}" if self.actor and self.actor.patient else ""

    # -- records -------------------------------------------------------------------------------
    def _record(self, patient_id: str) -> dict:
        if patient_id not in self._records:
            self._records[patient_id] = self.records.get(patient_id)
        return self._records[patient_id] or {"state": OPEN, "blocked": [], "no_emergency": False}

    def record_open(self, patient_id: str) -> bool:
        """Whether the caller may reach the patient's record at all (see the module docstring)."""
        if self.actor is None:
            return True
        record = self._record(patient_id)
        if not self.professional:
            return patient_id == self.actor.patient
        if record.get("state") != OPEN or self.me in record.get("blocked", []):
            return False
        return not (self.actor.purpose_of_use == "ETREAT" and record.get("no_emergency"))

    def patients_of(self, resource_type: str, resource_id: str, index: dict) -> list[str]:
        """The patients whose record holds a resource (Patient: itself; others: by their reference fields)."""
        if resource_type == "Patient":
            return [resource_id]
        found: dict[str, None] = {}
        for param in patient_compartment().get(resource_type, ()):
            for value in index.get(f"r:{param}", []):
                match = _PATIENT_REF.fullmatch(value) if isinstance(value, str) else None
                if match:
                    found[match[1]] = None
        return list(found)

    # -- reads ---------------------------------------------------------------------------------
    def visible(self, version: StoredVersion) -> bool:
        """Whether the caller may see this resource (its current or an earlier version)."""
        if self.actor is None:
            return True
        if version.type == "Binary":
            documents = self._documents_of(version.id)
            seen = any(self.visible(d) for d in documents) if documents else True
            if seen and not documents and not self.professional:
                seen = False  # a patient's token reaches only what their record holds
        elif self.professional and version.type in PATIENT_OWN:
            seen = False
        else:
            patients = self.patients_of(version.type, version.id, version.index)
            reachable = [p for p in patients if self.record_open(p)]
            seen = bool(reachable) or (not patients and self.professional)
            if seen and not self.professional and self._closed(version.type):
                seen = False
            if seen and version.type == "DocumentReference" and version.resource is not None:
                seen = self._document_visible(version)
            self.patients.update(dict.fromkeys(patients))
            if seen:
                self.touched[f"{version.type}/{version.id}"] = patients
            if seen and reachable and self.actor.purpose_of_use == "ETREAT":
                self._emergency(reachable)
        if seen and version.type == "Binary":
            self.touched[f"Binary/{version.id}"] = [p for d in self._documents_of(version.id) for p in
                                                    self.touched.get(f"DocumentReference/{d.id}", [])]
        elif seen and f"{version.type}/{version.id}" not in self.touched:
            self.touched[f"{version.type}/{version.id}"] = []
        return seen

    def _emergency(self, patients: list[str]) -> None:
        """An emergency access opened these records: audited as such, and each patient told (once a day per
        professional)."""
        self.emergency = True
        now = datetime.now(timezone.utc)
        for patient_id in patients:
            if patient_id not in self._told:
                self._told.add(patient_id)
                self.notify(patient_id, "emergency-access", now, f"{self.me}:{now.date().isoformat()}")

    def check_visible(self, version: StoredVersion) -> None:
        if not self.visible(version):
            raise NotFound(f"{version.type}/{version.id} is not known")

    def _closed(self, resource_type: str) -> bool:
        return resource_type in CLOSED_CONTENT and self._record(str(self.actor.patient)).get("state") != OPEN

    def _document_visible(self, version: StoredVersion) -> bool:
        labels = visibility_codes(version.resource or {})
        if self.professional:
            if version.index.get(WRITER) == self.me:
                return True
            if HIDDEN_FROM_PROFESSIONALS in labels:
                return False
            allowed = readable_types(self.actor.profession)
            return allowed is None or bool(set(version.index.get("t:type", [])) & set(allowed))
        hidden = {HIDDEN_FROM_PATIENT}
        if self.actor.representative:
            hidden.add(HIDDEN_FROM_REPRESENTATIVES)
        return not labels & hidden

    def _documents_of(self, binary_id: str) -> list[StoredVersion]:
        """The current DocumentReferences whose content points at a Binary."""
        if binary_id not in self._documents:
            ids, _ = self.store.search_ids("DocumentReference", {"u:location": f"Binary/{binary_id}",
                                                                 "deleted": False}, [], 100, False)
            self._documents[binary_id] = self.store.current_versions("DocumentReference", ids)
        return self._documents[binary_id]

    def check_search(self, resource_type: str) -> None:
        """Type-level refusals (they reveal nothing about any record)."""
        if not self.professional:
            return
        if resource_type in PATIENT_OWN:
            raise Forbidden(f"{resource_type} resources are the patient's own: professionals do not read them")
        if resource_type == "Binary":
            raise Forbidden("Binaries are read by id, from the document that points at them (ITI-68)")

    def history_exclusions(self, resource_type: str) -> list[str] | None:
        """Type-level history: Patients of records a professional may not see are left out; the other types of
        records have none (a type's whole history spans every record: ask for a resource's history)."""
        if not self.professional:
            return None
        if resource_type == "Patient":
            return self.records.denied(self.me, self.actor.purpose_of_use == "ETREAT")
        if resource_type == "Binary" or resource_type in _record_types():
            raise Forbidden(f"The history of every {resource_type} spans all patients' records: ask for one "
                            f"resource's history")
        return None

    def search_conditions(self, resource_type: str, query: dict) -> list[dict]:
        """Criteria ANDed with a search's own, leaving out what the caller may not see."""
        if self.actor is None:
            return []
        self.check_search(resource_type)
        conditions: list[dict] = []
        if self.professional and (resource_type == "Patient" or "patient" in _patient_params(resource_type)):
            field = "_id" if resource_type == "Patient" else "r:patient"
            named = _named_patients(resource_type, query)
            if named is not None:
                allowed = [p for p in named if self.record_open(p)]
                self.patients.update(dict.fromkeys(named))
                if allowed and self.actor.purpose_of_use == "ETREAT":
                    self._emergency(allowed)
                conditions.append({field: {"$in": [_ref(resource_type, p) for p in allowed]}})
            else:
                denied = self.records.denied(self.me, self.actor.purpose_of_use == "ETREAT")
                if denied:
                    conditions.append({field: {"$nin": [_ref(resource_type, p) for p in denied]}})
        if not self.professional and self._closed(resource_type):
            conditions.append({"_id": {"$in": []}})
        if resource_type == "DocumentReference":
            conditions += self._document_conditions()
        return conditions

    def _document_conditions(self) -> list[dict]:
        if not self.professional:
            hidden = [HIDDEN_FROM_PATIENT] + ([HIDDEN_FROM_REPRESENTATIVES] if self.actor.representative else [])
            return [{"t:security-label": {"$nin": [t for code in hidden for t in label_tokens(code)]}}]
        shown: list[dict] = [{"t:security-label": {"$nin": label_tokens(HIDDEN_FROM_PROFESSIONALS)}}]
        allowed = readable_types(self.actor.profession)
        if allowed is not None:
            shown.append({"t:type": {"$in": allowed}})
        return [{"$or": [{WRITER: self.me}, {"$and": shown}]}]

    # -- writes --------------------------------------------------------------------------------
    def check_write(self, resource_type: str, resource_id: str, resource: dict | None, index: dict,
                    current: StoredVersion | None) -> dict:
        """Refuses a write the rules forbid; returns the index fields to store (with the writer)."""
        if current is not None and not current.deleted and not self.visible(current):
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        if self.professional and resource_type in PATIENT_OWN:
            raise Forbidden(f"{resource_type} resources are written by the patient (or the server), not by "
                            f"professionals")
        old = current.index if current is not None and not current.deleted else {}
        patients = self.patients_of(resource_type, resource_id, index if resource is not None else old)
        if self.actor is not None and not self.professional and resource is not None and not patients \
                and resource_type in _record_types():
            raise Forbidden(f"A patient writes in their own record only: this {resource_type} does not name them")
        for patient_id in patients:
            self._check_record(resource_type, resource_id, resource, patient_id)
        if resource is None and resource_type == "Consent":
            self._lifted.update(dict.fromkeys(patients))
        if resource_type == "DocumentReference" and self.actor is not None:
            self._check_labels(current if old else None, resource)
        if resource is None:
            return index
        writer = old.get(WRITER) or self.me
        return {**index, WRITER: writer} if writer else index

    def _check_record(self, resource_type: str, resource_id: str, resource: dict | None, patient_id: str) -> None:
        if resource is not None and self._opposed(resource_type, resource, patient_id):
            raise Unprocessable("The patient opposed the creation of their shared health record: nothing was "
                                "stored", code="business-rule")
        if self.actor is None:  # the server's own writes (an import): the record's state still rules
            if resource_type in CLOSED_CONTENT and self._record(patient_id).get("state", OPEN) != OPEN:
                raise Unprocessable("This record is closed: it takes no new content until it is reopened",
                                    code="business-rule")
            if set(self.pushed_for or ()) & set(self._record(patient_id).get("blocked", [])):
                raise Forbidden("The patient's choices do not allow the author of this push to write in their "
                                "record")
            return
        if not self.professional:
            if patient_id != self.actor.patient:
                raise Forbidden(f"A patient writes in their own record only: this {resource_type} names another")
            if resource_type == "Patient":
                return
        if not self.record_open(patient_id) and (self.professional or resource_type in CLOSED_CONTENT):
            if self._record(patient_id).get("state", OPEN) == OPEN and self.professional:
                raise Forbidden("The patient's choices do not allow you to write in their record")
            raise Unprocessable("This record is closed: it takes no new content until it is reopened",
                                code="business-rule")

    def _opposed(self, resource_type: str, resource: dict, patient_id: str) -> bool:
        """Whether the person opposed their record. An open record cannot have been opposed (an opposition
        purges it), so the identity is looked up only for a Patient written or a record not opened yet."""
        self._record(patient_id)
        stored = self._records[patient_id]  # None: no record yet
        if stored and stored.get("opposed"):
            return True
        if stored and stored.get("state") == OPEN and resource_type != "Patient":
            return False
        identity = resource if resource_type == "Patient" else None
        if identity is None:
            patient = self.store.current("Patient", patient_id)
            identity = patient.resource if patient is not None and not patient.deleted else {}
        identifiers = [(i.get("system"), i.get("value")) for i in (identity or {}).get("identifier") or []
                       if i.get("system") and i.get("value")]
        return bool(identifiers) and self.records.opposed(identifiers)

    def _check_labels(self, current: StoredVersion | None, resource: dict | None) -> None:
        """Patients change the visibility to professionals of documents, and otherwise only their own."""
        if self.professional or current is None:
            return
        before = visibility_codes(current.resource or {})
        if resource is None:
            return  # a patient may remove a document from their record
        after = visibility_codes(resource)
        if (before ^ after) - {HIDDEN_FROM_PROFESSIONALS}:
            raise Forbidden("Only professionals mark a document not visible to the patient or to legal "
                            "representatives")
        if current.index.get(WRITER) != self.me and _without_masking(current.resource) != _without_masking(resource):
            raise Forbidden("A patient changes only whether a professional's document is hidden from "
                            "professionals (securityLabel MASQUE_PS)")

    def written(self, versions: list[StoredVersion]) -> None:
        """After writes: records opened by their first content, consent rules, the patient told."""
        now = datetime.now(timezone.utc)
        for version in versions:
            if version.deleted and version.type == "Consent":  # a rule lifted: the record's rules recomputed
                for patient_id in self._lifted:
                    self.refresh_rules(patient_id)
                    self._records.pop(patient_id, None)
            index = version.index if not version.deleted else {}
            patients = self.patients_of(version.type, version.id, index)
            self.touched[f"{version.type}/{version.id}"] = patients
            for patient_id in patients:
                self.patients[patient_id] = None
                if version.type != "Patient" and self.records.open_if_new(patient_id, now):
                    self.notify(patient_id, "record-created", now, None)
                if version.type == "Consent":
                    self.refresh_rules(patient_id)
                if version.type == "DocumentReference" and (self.professional or self.pushed_for is not None):
                    self.notify(patient_id, "document-changed", now, f"{version.id}/{version.version}")
                self._records.pop(patient_id, None)

    def refresh_rules(self, patient_id: str) -> None:
        """The record's rules recomputed from the patient's active Consents."""
        ids, _ = self.store.search_ids("Consent", {"r:patient": f"Patient/{patient_id}", "deleted": False},
                                       [], 1000, False)
        consents = [v.resource or {} for v in self.store.current_versions("Consent", ids)]
        blocked, no_emergency = consent_rules(consents)
        self.records.set_rules(patient_id, sorted(blocked), no_emergency, datetime.now(timezone.utc))

    def tighten_rules(self, patient_id: str, consent: dict) -> None:
        """Before a Consent is written: its denials apply already (a crash before `refresh_rules` leaves the
        record stricter, never more open)."""
        blocked, no_emergency = consent_rules([consent])
        record = self._record(patient_id)
        if blocked - set(record.get("blocked", [])) or (no_emergency and not record.get("no_emergency")):
            self.records.set_rules(patient_id, sorted(blocked | set(record.get("blocked", []))),
                                   no_emergency or bool(record.get("no_emergency")), datetime.now(timezone.utc))


def _without_masking(resource: dict | None) -> dict:
    return {k: v for k, v in (resource or {}).items() if k not in ("meta", "securityLabel", "text")}


def _record_types() -> tuple[str, ...]:
    return tuple(patient_compartment())


def _ref(resource_type: str, patient_id: str) -> str:
    return patient_id if resource_type == "Patient" else f"Patient/{patient_id}"


def _patient_params(resource_type: str) -> tuple[str, ...]:
    return tuple(parameters(resource_type)) if resource_type in RESOURCES else ()


def _named_patients(resource_type: str, query: dict) -> list[str] | None:
    """The patients a search is restricted to by one of its criteria (`_id` for Patient, the patient or
    subject parameter otherwise, whose Patient is the one the resource is about: another reference to a
    Patient, such as DocumentReference `related`, restricts nothing), or None when it names none."""
    for field, condition in single_criteria(query):
        if field not in (("_id",) if resource_type == "Patient" else _RECORD_FIELDS):
            continue
        values = condition["$in"] if isinstance(condition, dict) and list(condition) == ["$in"] else [condition]
        if not isinstance(values, list) or not values:
            continue
        if resource_type == "Patient" and all(isinstance(v, str) for v in values):
            return list(values)
        matches = [_PATIENT_REF.fullmatch(v) if isinstance(v, str) else None for v in values]
        if all(matches):
            return [m[1] for m in matches]
    return None
