"""Legal representatives: who may act for a minor, and until when.

A minor's representatives are RelatedPerson resources of their record: `patient` = the minor,
`relationship` a parent or guardian code (v3 RoleCode PRN, MTH, FTH, NPRN, ADOPTP, STPPRN, GUARD), an INS
`identifier` = the representative's own, and `active` not false. A representative signs in as themselves
and may then open the minor's record: their token names the minor (`patient`) and them (`representative`,
their INS). The right ends by itself the day the minor turns 18, and as soon as the RelatedPerson is
made inactive or deleted: api/guard.py checks both on every request.
"""
from __future__ import annotations

from datetime import date

from ..service.search import matching
from .patients import SIGN_IN
from ..storage.resources import ResourceStore, StoredVersion

INS = "urn:oid:1.2.250.1.213.1.4.8"
ROLE_CODES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
REPRESENTATIVES = {"PRN", "MTH", "FTH", "NPRN", "ADOPTP", "STPPRN", "GUARD"}
MAJORITY = 18


def is_minor(birth_date: str | None, today: date | None = None) -> bool:
    """Whether someone born on `birth_date` (YYYY-MM-DD) is under 18 on `today`; False when unknown."""
    try:
        born = date.fromisoformat(birth_date or "")
    except ValueError:
        return False
    today = today or date.today()
    try:
        adult_on = born.replace(year=born.year + MAJORITY)
    except ValueError:  # born on 29 February
        adult_on = date(born.year + MAJORITY, 3, 1)
    return today < adult_on


def minors_represented(store: ResourceStore, ins: str) -> list[StoredVersion]:
    """The minors' records whose representative has this INS."""
    minors: dict[str, StoredVersion] = {}
    for link in matching(store, SIGN_IN, "RelatedPerson", f"identifier={INS}|{ins}", limit=50):
        patient_id = _represented(link.resource or {})
        if patient_id and patient_id not in minors:
            patient = store.current("Patient", patient_id, reader=SIGN_IN)
            if patient and not patient.deleted and is_minor((patient.resource or {}).get("birthDate")):
                minors[patient_id] = patient
    return list(minors.values())


def still_represents(store: ResourceStore, ins: str, patient_id: str) -> bool:
    return any(p.id == patient_id for p in minors_represented(store, ins))


def display_name(patient: dict, unknown: str = "") -> str:
    """A Patient's name as people read it (its first name's text, else given names and family name)."""
    names = patient.get("name") or [{}]
    text = names[0].get("text") or " ".join([*names[0].get("given", []), names[0].get("family", "")]).strip()
    return text or unknown


def _represented(related: dict) -> str | None:
    """The Patient id a RelatedPerson makes them the representative of, else None."""
    if related.get("active") is False:
        return None
    codes = {(c.get("system"), c.get("code")) for r in related.get("relationship") or []
             for c in (r.get("coding") or [])}
    if not any(system == ROLE_CODES and code in REPRESENTATIVES for system, code in codes):
        return None
    reference = (related.get("patient") or {}).get("reference") or ""
    return reference.split("/", 1)[1] if reference.startswith("Patient/") else None
