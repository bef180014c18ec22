"""Who may see and change what in a patient's record: every rule in one place.

A `RecordAccess` is made for each request from the caller (an audit `Actor`: professional, patient or a
minor's representative), or for one of the server's jobs (`for_job`: a system principal). It is the `Reader`
every read of the store requires (storage/readers.py): the store itself applies
- `visible(version)`: reads, vreads, history, includes, `$everything`, Bundle entries, Binary downloads;
- `search_conditions(type, query)`: the same rule as a query, ANDed with every search (its totals and pages,
  chained and `_has` inner searches, conditional interactions), so that nothing the caller may not see is
  counted or matched.
The service layer asks it `check_write(...)` before a write (it decides the record the resource belongs to:
access/membership.py) and `written(...)` after it.
Both reads decide on stored fields alone: the record (`x:record`), the writer (`x:writer`), the document's
labels and type, and the record's state.

Professionals (tokens of referenced software naming a practitioner and a profession; `purpose_of_use`
TREAT attests the patient's agreement, ETREAT is emergency access) see a record when it is open, the
patient has not blocked them, and (for ETREAT) has not opposed emergency access; then the documents their
profession may read (access/matrix.py) that are not hidden from professionals (`MASQUE_PS`), and always the
documents they wrote. A Binary is seen with a document of its own record that points at it; one no document
points at, by its writer and its record's owner only. Consents and AuditEvents are the patient's own:
professionals neither read nor search them. A resource of a record type in no record is its writer's only.
What a caller may not see is answered as unknown (404, or left out of results): its existence is never
revealed. Patients (and representatives) see their own record, but for documents marked not visible to the
patient (and, for representatives, to legal representatives); a professional's first consultation of a
record, and every emergency access, is told to the patient (`notify`); while a record is closed, its documents, lists
and Binaries are seen by no one. A patient may hide or show a document (`MASQUE_PS`) and delete it, but
changes only their own documents otherwise.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from ..audit.events import Actor
from ..errors import DocumentRefused, Forbidden, Unprocessable
from ..storage.candidates import single_criteria
from ..storage.readers import RecordsOf, ServerLookup
from ..storage.records import OPEN, Records
from ..storage.resources import ResourceStore, StoredVersion
from .consents import (HIDDEN_FROM_PATIENT, HIDDEN_FROM_PROFESSIONALS, HIDDEN_FROM_REPRESENTATIVES, ConsentRules,
                       consent_rules, label_tokens, visibility_codes)
from .matrix import readable_types
from .membership import (RECORD, RECORD_ELEMENTS, RECORD_TYPES, Resolver, binary_context, document_binaries,
                         pointed_binaries, record_of, valid_id, with_record)

PATIENT_OWN = ("Consent", "AuditEvent")  # never shown to professionals
CLOSED_CONTENT = ("DocumentReference", "List", "Binary")  # what a closed record hides from everyone
WRITER = "x:writer"  # index field: who wrote a resource's first version (IDNPS, or Patient/<id>)
KEPT_FROM = "x:kept-from"  # a Binary's: the labels that kept a document that pointed at it from the patient
NOTHING = {"_id": {"$in": []}}
WITHDRAWN = "entered-in-error"  # a withdrawn document's status: seen by its writer only (service/lifecycle.py)
RULES_INPUT = ServerLookup("the record's rules")  # what the rules decide on: shown to no caller
_RECORD_FIELDS = (RECORD, "r:patient", "r:subject")  # the fields naming the patient whose record a resource is in
# patient id, notification kind, time, de-duplication key
Notify = Callable[[str, str, datetime, str | None], None]


class RecordAccess:
    def __init__(self, store: ResourceStore, records: Records, actor: Actor | None,
                 notify: Notify | None = None, pushed_for: tuple[str, ...] | None = None, base: str = "") -> None:
        """`actor` None: no caller restrictions (the server's own jobs). `pushed_for`: a server-side push (an
        import, an MLLP message) made for these professionals (IDNPS, the documents' authors): a patient who
        blocked one of them refuses it, and is told of the documents it adds or changes, as for a
        professional's own push."""
        self.store, self.records, self.actor = store, records, actor
        self.pushed_for = pushed_for
        self.notify = notify or (lambda *args: None)
        self._records: dict[str, dict | None] = {}
        self._documents: dict[tuple[str, str], list[StoredVersion]] = {}
        self.touched: dict[str, list[str]] = {}  # "Type/id" the caller saw or wrote -> whose records hold it
        self.patients: dict[str, None] = {}  # whose records the caller reached
        self.emergency = False  # whether an emergency access opened a record
        self._told: set[str] = set()
        self._lifted: dict[str, None] = {}  # patients whose Consent is being deleted: their rules are recomputed
        self.base = base  # this server's public FHIR base (absolute references to it are relative ones)
        self.pending: dict[str, dict] = {}  # "Type/id" -> stored fields of the writes planned in this request
        self.expected: dict[str, dict] = {}  # "Type/id" -> resources a transaction under way will write
        self._replacing: dict[str, StoredVersion] = {}  # "DocumentReference/id" -> the version a write replaces
        self.job = ""  # the server's job this principal runs (`for_job`), named in the audit trail

    @classmethod
    def for_job(cls, store: ResourceStore, records: Records, job: str, notify: Notify | None = None,
                pushed_for: tuple[str, ...] | None = None) -> "RecordAccess":
        """The system principal of one of the server's own jobs (an import, an MLLP push, a test's set-up):
        no caller's restrictions, but the record's state, oppositions and the blocking of `pushed_for`."""
        rules = cls(store, records, None, notify, pushed_for)
        rules.job = job
        return rules

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

    @property
    def caller(self) -> str:
        """Who this caller is, as a key (whose kept search pages are whose)."""
        actor = self.actor
        if actor is None:
            return f"server:{self.job}:" + ",".join(self.pushed_for or ())
        return "|".join(str(part or "") for part in (actor.kind, actor.client_id, actor.practitioner,
                                                       actor.purpose_of_use, actor.patient, actor.representative))

    # -- records -------------------------------------------------------------------------------
    def _record(self, patient_id: str) -> dict:
        if patient_id not in self._records:
            self._records[patient_id] = self.records.get(patient_id)
        return self._records[patient_id] or {"state": OPEN, "blocked": [], "no_emergency": False}

    def _read_records(self, patient_ids: list[str]) -> None:
        """Reads together the records of these patients that this request has not read yet."""
        unread = [p for p in patient_ids if p not in self._records]
        self._records.update(zip(unread, self.records.get_all(unread)))

    def _known_open(self, patient_id: str) -> bool:
        """Whether this request has read the patient's record already, and found it open (a record, once
        open, is closed or purged only by its patient or a job, never by a write)."""
        record = self._records.get(patient_id)
        return record is not None and record.get("state") == OPEN

    def record_open(self, patient_id: str, reading: bool = True) -> bool:
        """Whether the caller may reach the patient's record at all (see the module docstring); a professional
        refused consultation may still write in it (`reading` False)."""
        if self.actor is None:
            return True
        record = self._record(patient_id)
        if not self.professional:
            return patient_id == self.actor.patient
        if record.get("state") != OPEN or self.me in record.get("blocked", []):
            return False
        if reading and self.me in record.get("unreadable", []):
            return False
        return not (self.actor.purpose_of_use == "ETREAT" and record.get("no_emergency"))

    def resolver(self) -> Resolver:
        """How this caller's writes find the Patients their references name (access/membership.py)."""
        return stored_patients(self.store, self.base, self.expected)

    # -- reads ---------------------------------------------------------------------------------
    # `visible` (one resource) and `search_conditions` (the same rule as a query) are the one visibility
    # function: both decide on the stored fields alone (record, writer, labels, type) and the record's state.
    def visible(self, version: StoredVersion) -> bool:
        """Whether the caller may see this resource (its current or an earlier version; a deletion is judged
        by the version it deleted)."""
        if self.actor is None:
            return True
        record = record_id(version.type, version.id, version.index)
        if self.professional and version.type in PATIENT_OWN:
            seen = False
        elif record is None:
            seen = (version.type not in RECORD_TYPES and self.professional) or self._wrote(version)
        elif not self.record_open(record):
            seen = False
        elif not self.professional and self._closed(version.type):
            seen = False
        elif version.type == "DocumentReference":
            seen = self._document_visible(version)
        elif version.type == "Binary":
            seen = self._binary_visible(version, record)
        else:
            seen = True
        if record is not None:
            self.patients[record] = None
        if seen:
            self.touched[f"{version.type}/{version.id}"] = [record] if record else []
            if record and self.professional and self.actor.purpose_of_use == "ETREAT":
                self._emergency([record])
            elif record and self.professional:
                self._consulted(record)
        return seen

    def _wrote(self, version: StoredVersion) -> bool:
        return bool(self.me) and version.index.get(WRITER) == self.me

    def _binary_visible(self, binary: StoredVersion, record: str) -> bool:
        """Seen with a document of its record that points at it; while none does, by its writer and its
        record's owner only, unless a document that pointed at it was kept from them (`_left_binaries`)."""
        documents = self._documents_of(binary.id, record)
        if documents:
            return any(self.visible(d) for d in documents)
        if self._wrote(binary):
            return True
        return not self.professional and not set(binary.index.get(KEPT_FROM, [])) & set(self._hidden_labels())

    def _hidden_labels(self) -> list[str]:
        """The label tokens of the documents kept from a patient (or a representative)."""
        hidden = [HIDDEN_FROM_PATIENT] + ([HIDDEN_FROM_REPRESENTATIVES] if self.actor.representative else [])
        return [t for code in hidden for t in label_tokens(code)]

    def _emergency(self, patients: list[str]) -> None:
        """An emergency access opened these records: audited as such, and each patient told (once a day per
        professional)."""
        self.emergency = True
        now = datetime.now(timezone.utc)
        for patient_id in patients:
            if patient_id not in self._told:
                self._told.add(patient_id)
                self.notify(patient_id, "emergency-access", now, f"{self.me}:{now.date().isoformat()}")

    def _consulted(self, patient_id: str) -> None:
        """A professional saw something of this record: the patient is told of each professional's first
        consultation (service/notify.py keeps it to the first, and to the patients who want to know)."""
        if f"consulted:{patient_id}" not in self._told:
            self._told.add(f"consulted:{patient_id}")  # pragma: no mutate (spares calls: Notifier tells once)
            self.notify(patient_id, "consultation", datetime.now(timezone.utc), self.me)

    def _closed(self, resource_type: str) -> bool:
        return resource_type in CLOSED_CONTENT and self._record(str(self.actor.patient)).get("state") != OPEN

    def _document_visible(self, version: StoredVersion) -> bool:
        labels = set(version.index.get("t:security-label", []))
        if self._wrote(version):
            return self.professional or not labels & set(self._hidden_labels())
        if WITHDRAWN in version.index.get("t:status", []):
            return False
        if self.professional:
            if labels & set(label_tokens(HIDDEN_FROM_PROFESSIONALS)):
                return False
            allowed = readable_types(self.actor.profession)
            return allowed is None or bool(set(version.index.get("t:type", [])) & set(allowed))
        return not labels & set(self._hidden_labels())

    def _documents_of(self, binary_id: str, record: str) -> list[StoredVersion]:
        """The current DocumentReferences of a record (a Patient id) whose content points at a Binary (on
        that record's shard alone: docs/scaling.md)."""
        if (binary_id, record) not in self._documents:
            self._documents[binary_id, record], _ = self.store.search_page("DocumentReference", {
                "u:location": f"Binary/{binary_id}", RECORD: f"Patient/{record}", "deleted": False}, [], 0, 100,
                False, reader=RULES_INPUT)
        return self._documents[binary_id, record]

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
        if self.actor is None or (self.professional and resource_type not in RECORD_TYPES):
            return None
        if not self.professional or resource_type != "Patient":
            raise Forbidden(f"The history of every {resource_type} spans all patients' records: ask for one "
                            f"resource's history")
        return self.records.denied(self.me, self.actor.purpose_of_use == "ETREAT")

    def search_conditions(self, resource_type: str, query: dict, records: RecordsOf | None = None) -> list[dict]:
        """Criteria ANDed with a search's own, leaving out what the caller may not see: `visible` as a query.
        `records` reads every record (Patient id) a match of `query` can be in, when the store can tell."""
        if self.actor is None:
            return []
        self.check_search(resource_type)
        if resource_type not in RECORD_TYPES:
            return [] if self.professional else [NOTHING]
        if not self.professional:
            if self._closed(resource_type):
                return [NOTHING]
            conditions = [_in_records(resource_type, [str(self.actor.patient)])]
        else:
            conditions = [self._records_condition(resource_type, query, records)]
        if resource_type == "DocumentReference":
            conditions += self._document_conditions()
        return conditions

    def _records_condition(self, resource_type: str, query: dict, records: RecordsOf | None) -> dict:
        """A professional's search: resources of records open to them, or in no record and written by them.
        Judged on the records the search names, else those the store says its matches can be in, else (a
        scan of the records: the store cannot tell, or they are too many) every record."""
        named = _named_patients(resource_type, query)
        if named is not None:
            self._read_records(named)
            allowed = [p for p in named if self.record_open(p)]
            self.patients.update(dict.fromkeys(named))
            if allowed and self.actor.purpose_of_use == "ETREAT":
                self._emergency(allowed)
            return _in_records(resource_type, allowed)
        found = records() if records is not None else None
        if found is not None:
            candidates = list(dict.fromkeys(found))
            self._read_records(candidates)
            in_records = _in_records(resource_type, [p for p in candidates if self.record_open(p)])
        else:
            denied = self.records.denied(self.me, self.actor.purpose_of_use == "ETREAT")
            if resource_type == "Patient":
                return {"_id": {"$nin": denied}}
            in_records = {RECORD: {"$nin": [f"Patient/{p}" for p in denied], "$exists": True}}
        if resource_type == "Patient":
            return in_records
        return {"$or": [in_records, {RECORD: {"$exists": False}, WRITER: self.me}]}

    def _document_conditions(self) -> list[dict]:
        in_force = {"t:status": {"$nin": [WITHDRAWN]}}
        if not self.professional:
            shown = {"t:security-label": {"$nin": self._hidden_labels()}}
            return [shown, {"$or": [{WRITER: self.me}, in_force]}] if self.me else [shown, in_force]
        shown: list[dict] = [{"t:security-label": {"$nin": label_tokens(HIDDEN_FROM_PROFESSIONALS)}}, in_force]
        allowed = readable_types(self.actor.profession)
        if allowed is not None:
            shown.append({"t:type": {"$in": allowed}})
        return [{"$or": [{WRITER: self.me}, {"$and": shown}]}]

    # -- writes --------------------------------------------------------------------------------
    def check_write(self, resource_type: str, resource_id: str, resource: dict | None, index: dict,
                    current: StoredVersion | None) -> dict:
        """Refuses a write the rules forbid; returns the fields to store: the search index, the record the
        resource belongs to (decided here: access/membership.py) and its writer. A deletion keeps them.
        `current`: the resource as read under these rules (the store leaves out what they do not show)."""
        if self.professional and resource_type in PATIENT_OWN:
            raise Forbidden(f"{resource_type} resources are written by the patient (or the server), not by "
                            f"professionals")
        old = current.index if current is not None and not current.deleted else {}
        patient_id = record_id(resource_type, resource_id, old) if resource is None else \
            self._place(resource_type, resource_id, resource, old)
        if self.actor is not None and not self.professional and resource is not None and patient_id is None \
                and resource_type in RECORD_TYPES and resource_type != "Binary":
            raise Forbidden(f"A patient writes in their own record only: this {resource_type} does not name them")
        if patient_id is not None:
            self._check_record(resource_type, resource_id, resource, patient_id)
            if resource_type == "DocumentReference" and resource is not None and not old:
                self._check_feeding(patient_id)
        if current is not None and resource is not None and resource_type in RECORD_ELEMENTS:
            self._check_kept(current, patient_id)  # once the caller may write where it would go
        if resource is None and resource_type == "Consent" and patient_id is not None:
            self._lifted[patient_id] = None
        if resource_type == "DocumentReference" and resource is not None:
            self._check_binaries(resource, patient_id)
        if resource_type == "DocumentReference" and self.actor is not None:
            self._check_labels(current if old else None, resource)
        if resource_type == "DocumentReference" and old:
            if resource is not None:
                self._check_status(current, resource)
            self._replacing[f"DocumentReference/{resource_id}"] = current
        writer = old.get(WRITER) or self.me
        fields = {**(index if resource is not None else {}), **({WRITER: writer} if writer else {})}
        fields = with_record(resource_type, fields, f"Patient/{patient_id}" if patient_id else None)
        if resource is not None:
            self.pending[f"{resource_type}/{resource_id}"] = fields
            self.expected[f"{resource_type}/{resource_id}"] = resource
        return fields

    def _place(self, resource_type: str, resource_id: str, resource: dict, old: dict) -> str | None:
        """The patient whose record the resource being written belongs to (None: no record)."""
        if resource_type != "Binary":
            record = record_of(resource_type, resource_id, resource, self.resolver())
            return record.partition("/")[2] if record else None
        fixed = record_id("Binary", resource_id, old)
        named = self._context_record(resource)
        if fixed is not None and named not in (None, fixed):
            raise Unprocessable("Binary.securityContext: a Binary stays in the record it was first written in",
                                code="business-rule")
        return fixed or named

    @staticmethod
    def _check_kept(current: StoredVersion, patient_id: str | None) -> None:
        """A resource stays in the record its first version was written in (a deletion keeps it): its
        history is that record's, and a sharded database keeps it on that record's shard (docs/scaling.md)."""
        kept = record_id(current.type, current.id, current.index)
        if kept == patient_id:
            return
        name = f"{current.type}/{current.id}"
        if kept is None:
            problem = f"{name} was written in no record: a new version cannot move it into one"
        else:
            problem = f"{name} stays in the record of Patient/{kept}, where it was first written: a new version " \
                      f"cannot {'move it to another record' if patient_id else 'take it out'}"
        raise Unprocessable(f"{problem}; delete it and create it anew in the right record", code="business-rule")

    def _context_record(self, binary: dict) -> str | None:
        """The record a Binary's `securityContext` names: a Patient's, or that of a document the caller may
        read (or writes in the same transaction)."""
        context = binary_context(binary, self.base)
        if context is None or context[0] not in ("Patient", "DocumentReference"):
            return None
        kind, target = context
        refused = Unprocessable(f"Binary.securityContext: {kind}/{target} is not a {kind} you may read",
                                code="business-rule")
        if kind == "Patient":
            if not self.resolver().patient(target):
                raise refused
            return target
        planned = self.pending.get(f"DocumentReference/{target}")
        if planned is not None:
            return record_id("DocumentReference", target, planned)
        expected = self.expected.get(f"DocumentReference/{target}")
        if expected is not None:  # written later in the same transaction (checked then): its record
            record = record_of("DocumentReference", target, expected, self.resolver())
            return record.partition("/")[2] if record else None
        document = self.store.current("DocumentReference", target, reader=self)
        if document is None or document.deleted:
            raise refused
        return record_id("DocumentReference", target, document.index)

    def _check_binaries(self, document: dict, patient_id: str | None) -> None:
        """A document points only at Binaries of its own record that its writer may read; one in no record
        (posted before its document) joins the document's record once the document is written (`written`).
        An unknown Binary, one the caller may not read and one of another record get the same answer."""
        for n, binary_id in pointed_binaries(document, self.base):
            planned = self.pending.get(f"Binary/{binary_id}")
            if planned is None and f"Binary/{binary_id}" in self.expected:
                continue  # written later in the same transaction: its own record is decided then
            binary = None if planned is not None else self.store.current("Binary", binary_id, reader=self)
            fields = planned if planned is not None else (binary.index if binary and not binary.deleted else None)
            record = record_id("Binary", binary_id, fields or {})
            if fields is None or record not in (None, patient_id):
                raise Unprocessable(f"DocumentReference.content[{n}].attachment.url: Binary/{binary_id} is not a "
                                    f"Binary of this record that you may read", code="business-rule")

    def _check_record(self, resource_type: str, resource_id: str, resource: dict | None, patient_id: str) -> None:
        if resource is not None and self._opposed(resource_type, resource, patient_id):
            raise Unprocessable("The patient opposed the creation of their shared health record: nothing was "
                                "stored", code="business-rule", reason="patient opposed")
        if self.actor is None:  # the server's own writes (an import): the record's state still rules
            if resource_type in CLOSED_CONTENT and self._record(patient_id).get("state", OPEN) != OPEN:
                raise _closed_record()
            if set(self.pushed_for or ()) & set(self._record(patient_id).get("blocked", [])):
                raise Forbidden("The patient's choices do not allow the author of this push to write in their "
                                "record", reason="author blocked")
            return
        if not self.professional:
            if patient_id != self.actor.patient:
                raise Forbidden(f"A patient writes in their own record only: this {resource_type} names another")
            # Their record is always open to them (`record_open`), but while it is closed it takes no documents,
            # lists or Binaries from them either: those would be hidden from everyone, them included.
            if resource_type in CLOSED_CONTENT and self._record(patient_id).get("state", OPEN) != OPEN:
                raise _closed_record()
            return
        if not self.record_open(patient_id, reading=False):
            if self._record(patient_id).get("state", OPEN) == OPEN:
                raise Forbidden("The patient's choices do not allow you to write in their record")
            raise _closed_record()

    def _check_feeding(self, patient_id: str) -> None:
        """A new document by a professional or a push, in a record whose patient opposed feeding it, is refused
        (the patient's own documents are not)."""
        if (self.actor is None or self.professional) and self._record(patient_id).get("no_feeding"):
            raise Unprocessable("The patient opposed feeding their shared health record (a Consent denying "
                                "'collect', e.g. IHE PAM France ZFA-9 = IO): no document is added to it",
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
            patient = self.store.current("Patient", patient_id, reader=RULES_INPUT)
            identity = patient.resource if patient is not None and not patient.deleted else {}
        identifiers = [(i.get("system"), i.get("value")) for i in (identity or {}).get("identifier") or []
                       if i.get("system") and i.get("value")]
        return bool(identifiers) and self.records.opposed(identifiers)

    def _check_status(self, current: StoredVersion, resource: dict) -> None:
        """Replacing (`superseded`) or withdrawing (`entered-in-error`) a stored document is its writer's alone:
        the ANS lets only a document's author replace or delete it (service/lifecycle.py)."""
        status, before = resource.get("status"), (current.resource or {}).get("status")
        if status == before or status not in (WITHDRAWN, "superseded"):
            return
        if (self.professional or self.pushed_for) and current.index.get(WRITER) != self.me:
            action = "withdraw" if status == WITHDRAWN else "replace"
            raise DocumentRefused("not-author", f"Only the author of DocumentReference/{current.id} may {action} it")

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
            # A rule lifted: the record's rules recomputed (`or` would only recompute them more often: _lifted is
            # empty unless a Consent is deleted, and recomputing is idempotent).
            if version.deleted and version.type == "Consent":  # pragma: no mutate (see above)
                for patient_id in self._lifted:
                    self.refresh_rules(patient_id)
                    self._records.pop(patient_id, None)
            patient_id = record_id(version.type, version.id, version.index)
            patients = [patient_id] if patient_id else []
            self.touched[f"{version.type}/{version.id}"] = patients
            if version.type == "DocumentReference" and patient_id and not version.deleted:
                self._adopt(version, patient_id)
            previous = self._replacing.pop(f"{version.type}/{version.id}", None)
            if previous is not None and previous.version == version.version - 1:
                self._left_binaries(previous, version)
            for patient_id in patients:
                self.patients[patient_id] = None
                if version.type != "Patient" and not version.deleted and not self._known_open(patient_id) \
                        and self.records.open_if_new(patient_id, now):
                    self.notify(patient_id, "record-created", now, None)
                if version.type == "Consent":
                    self.refresh_rules(patient_id)
                if version.type == "DocumentReference" and (self.professional or self.pushed_for is not None):
                    self.notify(patient_id, "document-changed", now, f"{version.id}/{version.version}")
                self._records.pop(patient_id, None)

    def _adopt(self, document: StoredVersion, patient_id: str) -> None:
        """The Binaries in no record a document points at join the document's record (`_check_binaries`
        allowed only those of the document's writer)."""
        for binary_id in document_binaries(document.resource or {}, self.base):
            binary = self.store.current("Binary", binary_id, reader=RULES_INPUT)
            if binary is not None and not binary.deleted and RECORD not in binary.index \
                    and binary.index.get(WRITER) == document.index.get(WRITER):
                self.store.set_fields("Binary", binary_id, {RECORD: f"Patient/{patient_id}"})

    def _left_binaries(self, previous: StoredVersion, document: StoredVersion) -> None:
        """The Binaries the previous version of a document pointed at and this one (a deletion included) no
        longer does keep the labels that kept that document from the patient or their representatives: left
        with no document, they are still kept from them."""
        hidden = {t for code in (HIDDEN_FROM_PATIENT, HIDDEN_FROM_REPRESENTATIVES) for t in label_tokens(code)}
        kept = set(previous.index.get("t:security-label", [])) & hidden
        left = set(document_binaries(previous.resource or {}, self.base)) - \
            set(document_binaries(document.resource or {}, self.base))
        record = record_id("DocumentReference", previous.id, previous.index)
        for binary_id in sorted(left) if kept else []:
            binary = self.store.current("Binary", binary_id, reader=RULES_INPUT)
            if binary is not None and record_id("Binary", binary_id, binary.index) == record:
                marked = sorted(set(binary.index.get(KEPT_FROM, [])) | kept)
                self.store.set_fields("Binary", binary_id, {KEPT_FROM: marked})

    def refresh_rules(self, patient_id: str) -> None:
        """The record's rules recomputed from the patient's active Consents."""
        ids, _ = self.store.search_ids("Consent", {"r:patient": f"Patient/{patient_id}", "deleted": False},
                                       [], 1000, False, reader=RULES_INPUT)  # pragma: no mutate (a total unused)
        consents = [v.resource or {} for v in self.store.current_versions("Consent", ids, reader=RULES_INPUT)]
        self._store_rules(patient_id, consent_rules(consents))

    def tighten_rules(self, patient_id: str, consent: dict) -> None:
        """Before a Consent is written: its denials apply already (a crash before `refresh_rules` leaves the
        record stricter, never more open)."""
        record = self._record(patient_id)
        held = ConsentRules(frozenset(record.get("blocked", [])), frozenset(record.get("unreadable", [])),
                            bool(record.get("no_emergency")), bool(record.get("no_feeding")))
        stricter = held | consent_rules([consent])
        if stricter != held:
            self._store_rules(patient_id, stricter)

    def _store_rules(self, patient_id: str, rules: ConsentRules) -> None:
        self.records.set_rules(patient_id, datetime.now(timezone.utc), blocked=sorted(rules.blocked),
                               unreadable=sorted(rules.unreadable), no_emergency=rules.no_emergency,
                               no_feeding=rules.no_feeding)


def _without_masking(resource: dict | None) -> dict:
    return {k: v for k, v in (resource or {}).items() if k not in ("meta", "securityLabel", "text")}


def stored_patients(store: ResourceStore, base: str = "", pending: dict | None = None) -> Resolver:
    """A membership resolver reading the store's current Patients (by id, and by identifier)."""
    def patients_with(system: str, value: str) -> list[str]:
        ids, _ = store.search_ids("Patient", {"t:identifier": f"{system}|{value}", "deleted": False}, [], 10, False,
                                  reader=RULES_INPUT)
        return ids

    def exists(patient_id: str) -> bool:
        patient = store.current("Patient", patient_id, reader=RULES_INPUT)
        return patient is not None and not patient.deleted
    return Resolver(exists, patients_with, base, pending if pending is not None else {})


def record_id(resource_type: str, resource_id: str, index: dict) -> str | None:
    """The patient whose record a stored resource (its index fields) belongs to, or None."""
    if resource_type == "Patient":
        return resource_id
    record = index.get(RECORD)
    return record.partition("/")[2] if isinstance(record, str) and record.startswith("Patient/") else None


def _in_records(resource_type: str, patients: list[str]) -> dict:
    """The resources of these patients' records."""
    if resource_type == "Patient":
        return {"_id": {"$in": patients}}
    return {RECORD: {"$in": [f"Patient/{p}" for p in patients]}}


def _named_patients(resource_type: str, query: dict) -> list[str] | None:
    """The patients a search is restricted to by one of its criteria (`_id` for Patient, the patient or
    subject parameter otherwise), or None when it names none. Values that are no FHIR id name nobody."""
    for field, condition in single_criteria(query):
        if field not in (("_id",) if resource_type == "Patient" else _RECORD_FIELDS):
            continue
        values = condition["$in"] if isinstance(condition, dict) and list(condition) == ["$in"] else [condition]
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            continue
        if resource_type != "Patient":
            if not all(v.startswith("Patient/") for v in values):
                continue
            values = [v.partition("/")[2] for v in values]
        return [v for v in values if valid_id(v)]
    return None


def _closed_record() -> Unprocessable:
    return Unprocessable("This record is closed: it takes no new content until it is reopened", code="business-rule",
                         reason="record closed")
