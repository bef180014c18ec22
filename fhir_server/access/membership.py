"""Record membership: which patient's record a resource belongs to, decided once, when it is written.

The record is stored with every version as the index field `x:record` (`"Patient/<id>"`, or absent for a
resource in no record), and every read decides on that field alone (access/policy.py): how a reference was
spelled can never move a resource out of its record.

The elements that place a resource in a record (`RECORD_ELEMENTS`) are those of the official Patient
CompartmentDefinition for the types this server stores, plus `DocumentReference.context.sourcePatientInfo`:
- a Patient is its own record;
- DocumentReference: `subject`, `author`, `context.sourcePatientInfo`; List: `subject`, `source`;
  Consent and RelatedPerson: `patient`; AuditEvent: the Patient among `agent.who` and `entity.what`;
- a Binary: its `securityContext` (a Patient, or a DocumentReference whose record it takes), else the
  record of the first document of its writer that points at it (storage adopts it then), and never another.
Every form R4 allows names the patient: relative (`Patient/1`, versioned `Patient/1/_history/2`), absolute
on this server's base, a `urn:uuid`/`urn:oid` of another entry of a Bundle (rewritten before this runs), a
contained Patient (`#p`, found by its identifiers) and an identifier-only reference (a Patient holding that
identifier: INS or any other). A reference naming a Patient this server cannot resolve (unknown id, another
server's Patient, an INS no Patient holds, a typed `Patient` reference with nothing to resolve) is refused
with 422 naming the element: nothing is ever stored outside the record it is about.
A resource belongs to one record at most: naming two patients in these elements is refused (422), so the
record's rules are those of exactly one patient.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import Unprocessable
from ..search.registry import parameters
from ..storage.postings import RECORD

INS_SYSTEMS = ("urn:oid:1.2.250.1.213.1.4.8", "urn:oid:1.2.250.1.213.1.4.9", "urn:oid:1.2.250.1.213.1.4.10",
               "urn:oid:1.2.250.1.213.1.4.11")
RECORD_ELEMENTS: dict[str, tuple[str, ...]] = {
    "DocumentReference": ("subject", "author", "context.sourcePatientInfo"),
    "List": ("subject", "source"),
    "Consent": ("patient",),
    "RelatedPerson": ("patient",),
    "AuditEvent": ("agent.who", "entity.what"),
}
RECORD_TYPES = ("Patient", "Binary", *RECORD_ELEMENTS)  # what is in a record, or only its writer's
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_RELATIVE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?")
_ABSOLUTE = re.compile(r"(https?://.+?)/([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?)")


def with_record(resource_type: str, index: dict, record: str | None) -> dict:
    """The stored fields of a resource of that record: `x:record`, and its `patient` search values, so that
    `patient=` finds it whatever form named its patient (an INS, an absolute URL, a contained Patient)."""
    if record is None or resource_type == "Patient":  # a Patient's record is its id
        return index
    fields = {**index, RECORD: record}
    if "patient" in parameters(resource_type):
        fields["r:patient"] = sorted({*index.get("r:patient", []), record, record.partition("/")[2]})
    return fields


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID.fullmatch(value))


@dataclass
class Resolver:
    """What deciding membership reads: Patients by id and by identifier, with the server's rights (a
    record's place does not depend on who writes; whether they may write there is decided next), and the
    resources planned in the same transaction (`pending`, "Type/id" -> resource)."""
    patient_exists: Callable[[str], bool]
    patients_with: Callable[[str, str], list[str]]  # (system, value) -> ids of current Patients
    base: str = ""  # this server's public FHIR base, for absolute references
    pending: dict[str, dict] = field(default_factory=dict)

    def patient(self, patient_id: str) -> bool:
        return f"Patient/{patient_id}" in self.pending or self.patient_exists(patient_id)

    def by_identifier(self, system: str, value: str) -> list[str]:
        found = dict.fromkeys(self.patients_with(system, value))
        for key, resource in self.pending.items():
            if key.startswith("Patient/") and any(i.get("system") == system and i.get("value") == value
                                                  for i in resource.get("identifier") or []):
                found[key.partition("/")[2]] = None
        return list(found)


def record_of(resource_type: str, resource_id: str, resource: dict, resolver: Resolver) -> str | None:
    """The record (`"Patient/<id>"`) a resource being written belongs to, or None; raises Unprocessable
    (naming the element) for a patient it cannot resolve or for two patients. A Binary's record is decided
    from its `securityContext` and the documents pointing at it (access/policy.py `_place`)."""
    if resource_type == "Patient":
        return f"Patient/{resource_id}"
    found: dict[str, str] = {}  # patient id -> the element naming it
    for path in RECORD_ELEMENTS.get(resource_type, ()):
        for reference in _values(resource, path.split(".")):
            patient = _patient(reference, resource, resolver, f"{resource_type}.{path}")
            if patient is not None:
                found.setdefault(patient, f"{resource_type}.{path}")
    if len(found) > 1:
        named = ", ".join(f"{element} names Patient/{p}" for p, element in found.items())
        raise Unprocessable(f"A {resource_type} belongs to one patient's record: {named}", code="business-rule")
    return f"Patient/{next(iter(found))}" if found else None


def _values(node: object, path: list[str]) -> Iterator[object]:
    if isinstance(node, list):
        for item in node:
            yield from _values(item, path)
    elif not path:
        yield node
    elif isinstance(node, dict) and path[0] in node:
        yield from _values(node[path[0]], path[1:])


def _patient(reference: object, resource: dict, resolver: Resolver, element: str) -> str | None:
    """The Patient id a Reference names (None: it names no patient); raises when it names one it cannot
    resolve."""
    if not isinstance(reference, dict):
        return None
    text, kind = reference.get("reference"), reference.get("type")
    if isinstance(text, str) and text:
        if text.startswith("#"):
            return _contained(text[1:], resource, resolver, element)
        relative = _relative(text, resolver.base)
        if relative is not None:
            target, target_id = relative
            if target != "Patient":
                return None
            if not resolver.patient(target_id):
                raise _unresolved(element, f"Patient/{target_id} is not known")
            return target_id
        if _ABSOLUTE.fullmatch(text) and "/Patient/" in text or text.startswith("Patient?") or kind == "Patient":
            raise _unresolved(element, f"'{text}' is not a Patient of this server")
        return None
    identifier = reference.get("identifier")
    if isinstance(identifier, dict) and identifier.get("system") and identifier.get("value"):
        return _identified(identifier, kind, resolver, element)
    if kind == "Patient":
        raise _unresolved(element, "a Patient reference needs a reference or an identifier")
    return None


def _relative(text: str, base: str) -> tuple[str, str] | None:
    """(type, id) of a relative reference, or of an absolute one on this server's base."""
    match = _RELATIVE.fullmatch(text)
    if match is None:
        absolute = _ABSOLUTE.fullmatch(text)
        if absolute is None or not base or absolute[1].rstrip("/") != base.rstrip("/"):
            return None
        match = _RELATIVE.fullmatch(absolute[2])
    return match[1], match[2]


def _identified(identifier: dict, kind: object, resolver: Resolver, element: str) -> str | None:
    system, value = str(identifier["system"]), str(identifier["value"])
    if kind not in (None, "Patient"):
        return None
    found = resolver.by_identifier(system, value)
    if len(found) == 1:
        return found[0]
    if found:
        raise _unresolved(element, f"several Patients hold the identifier {system}|{value}")
    if kind == "Patient" or system in INS_SYSTEMS:
        raise _unresolved(element, f"no Patient holds the identifier {system}|{value}")
    return None  # someone else's identifier (a professional's, an organisation's)


def _contained(local_id: str, resource: dict, resolver: Resolver, element: str) -> str | None:
    contained = next((c for c in resource.get("contained") or [] if isinstance(c, dict)
                      and c.get("id") == local_id), None)
    if contained is None or contained.get("resourceType") != "Patient":
        return None
    for identifier in contained.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") and identifier.get("value"):
            found = resolver.by_identifier(str(identifier["system"]), str(identifier["value"]))
            if len(found) == 1:
                return found[0]
    raise _unresolved(element, f"the contained Patient #{local_id} matches no Patient of this server by its "
                               f"identifiers")


def _unresolved(element: str, why: str) -> Unprocessable:
    return Unprocessable(f"{element}: {why}; a resource about a patient is stored in that patient's record "
                         f"only", code="business-rule", reason="unknown patient")


def binary_context(binary: dict, base: str) -> tuple[str, str] | None:
    """(type, id) a Binary's `securityContext` names, relative or an absolute URL on this server's `base`;
    ("", reference) for anything else (another server's resource names no record here); None without one."""
    reference = (binary.get("securityContext") or {}).get("reference")
    if not isinstance(reference, str):
        return None
    return _relative(reference, base) or ("", reference)


def pointed_binaries(document: dict, base: str = "") -> list[tuple[int, str]]:
    """(content index, Binary id) of a DocumentReference's attachments served here: `Binary/<id>`, or an
    absolute URL to a Binary on this server's `base`."""
    found = []
    for n, content in enumerate(document.get("content") or []):
        target = _relative(str(((content or {}).get("attachment") or {}).get("url") or ""), base)
        if target is not None and target[0] == "Binary":
            found.append((n, target[1]))
    return found


def document_binaries(document: dict, base: str = "") -> list[str]:
    """The ids of the Binaries a DocumentReference's attachments point at, each once."""
    return list(dict.fromkeys(binary_id for _, binary_id in pointed_binaries(document, base)))
