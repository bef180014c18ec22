"""A patient's compartment (the official Patient CompartmentDefinition): which resources are in their record.

Each stored type is tied to the patient by some of its reference parameters (DocumentReference by `subject`
or `author`, List by `subject` or `source`...); a Binary is in the record when one of the record's
DocumentReferences points at it. Used by `$everything` and purges; which record a resource is in is decided
on write (access/membership.py).
"""
from __future__ import annotations

import json
from functools import lru_cache

from validation.definitions import packages_dir

from ..registry import RESOURCES

@lru_cache(maxsize=1)
def patient_compartment() -> dict[str, tuple[str, ...]]:
    """Stored type -> the parameters that put a resource of it in a patient's compartment."""
    path = packages_dir() / "hl7.fhir.r4.examples" / "CompartmentDefinition-patient.json"
    definition = json.loads(path.read_text(encoding="utf-8"))
    return {r["code"]: tuple(r.get("param", ())) for r in definition["resource"]
            if r["code"] in RESOURCES and r["code"] != "Patient" and r.get("param")}
