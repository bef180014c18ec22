"""A patient's compartment (the official Patient CompartmentDefinition): which resources are in their record.

Each stored type is tied to the patient by some of its reference parameters (DocumentReference by `subject`
or `author`, List by `subject` or `source`...); a Binary is in the record when one of the record's
DocumentReferences points at it. Used by `$everything` and by what a patient's own token may read.
"""
from __future__ import annotations

import json
from functools import lru_cache
from urllib.parse import urlencode

from validation.definitions import packages_dir

from ..registry import RESOURCES
from ..search.values import index_fields
from ..storage.resources import ResourceStore, StoredVersion
from .search import matching


@lru_cache(maxsize=1)
def patient_compartment() -> dict[str, tuple[str, ...]]:
    """Stored type -> the parameters that put a resource of it in a patient's compartment."""
    path = packages_dir() / "hl7.fhir.r4.examples" / "CompartmentDefinition-patient.json"
    definition = json.loads(path.read_text(encoding="utf-8"))
    return {r["code"]: tuple(r.get("param", ())) for r in definition["resource"]
            if r["code"] in RESOURCES and r["code"] != "Patient" and r.get("param")}


def in_compartment(store: ResourceStore, version: StoredVersion, patient_id: str) -> bool:
    """Whether a stored resource belongs to the patient's record."""
    if version.type == "Patient":
        return version.id == patient_id
    if version.type == "Binary":
        criteria = urlencode([("patient", f"Patient/{patient_id}"), ("location", f"Binary/{version.id}")])
        return bool(matching(store, "DocumentReference", criteria, limit=1))
    return refers_to_patient(version.type, version.resource or {}, patient_id)


def refers_to_patient(resource_type: str, resource: dict, patient_id: str) -> bool:
    """Whether a resource's compartment parameters name the patient (what puts it in their record)."""
    reference = f"Patient/{patient_id}"
    fields = index_fields(resource_type, resource)
    return any(reference in fields.get(f"r:{param}", []) for param in patient_compartment().get(resource_type, ()))
