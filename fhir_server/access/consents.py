"""The record rules a patient states as FHIR Consent resources, and the labels on documents.

A patient (or their representative) writes Consents about their own record; the server reads the active
ones with `provision.type` = `deny`:
- with `provision.actor` naming professionals by national identifier (`actor.reference.identifier`,
  system urn:oid:1.2.250.1.71.4.2.1): those professionals are blocked (no access at all, emergency included);
- without actors and with `provision.purpose` ETREAT (v3 ActReason): the patient opposes emergency access.
Other Consents are stored and returned but change no access rule.

Document visibility is `DocumentReference.securityLabel` with TRE_A07-StatutVisibiliteDocument
(`MASQUE_PS` hidden from professionals, `INVISIBLE_PATIENT` not shown to the patient until told in person,
`INVISIBLE_REPRESENTANTS_LEGAUX` not shown to a minor's representatives), by its OID or its NOS URL; and
a confidentiality (v3 Confidentiality), `N` when the writer gives none.
"""
from __future__ import annotations

RPPS = "urn:oid:1.2.250.1.71.4.2.1"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
VISIBILITY_SYSTEMS = ("urn:oid:1.2.250.1.213.1.1.4.13",
                      "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/"
                      "TRE-A07-StatutVisibiliteDocument")
HIDDEN_FROM_PROFESSIONALS = "MASQUE_PS"
HIDDEN_FROM_PATIENT = "INVISIBLE_PATIENT"
HIDDEN_FROM_REPRESENTATIVES = "INVISIBLE_REPRESENTANTS_LEGAUX"


def label_tokens(code: str) -> list[str]:
    """The `t:security-label` index values a visibility code is stored as (search/values.py)."""
    return [f"{system}|{code}" for system in VISIBILITY_SYSTEMS]


def visibility_codes(resource: dict) -> set[str]:
    return {coding.get("code") for label in resource.get("securityLabel") or [] for coding in label.get("coding") or []
            if coding.get("system") in VISIBILITY_SYSTEMS}


def with_confidentiality(document: dict) -> dict:
    """A DocumentReference with a confidentiality label: `N` (normal) unless it carries one (PDSm)."""
    labels = document.get("securityLabel") or []
    if any(c.get("system") == CONFIDENTIALITY for label in labels for c in label.get("coding") or []):
        return document
    return {**document, "securityLabel": [*labels, {"coding": [{"system": CONFIDENTIALITY, "code": "N"}]}]}


def consent_rules(consents: list[dict]) -> tuple[set[str], bool]:
    """(blocked professionals' identifiers, emergency access opposed) from a patient's Consents."""
    blocked: set[str] = set()
    no_emergency = False
    for consent in consents:
        provision = consent.get("provision") or {}
        if consent.get("status") != "active" or provision.get("type") != "deny":
            continue
        actors = [((actor.get("reference") or {}).get("identifier") or {}) for actor in provision.get("actor") or []]
        named = {i.get("value") for i in actors if i.get("system") == RPPS and i.get("value")}
        purposes = {c.get("code") for c in provision.get("purpose") or [] if c.get("system") == ACT_REASON}
        if named:
            blocked |= named
        elif "ETREAT" in purposes:
            no_emergency = True
    return blocked, no_emergency
