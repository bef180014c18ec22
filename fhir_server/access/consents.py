"""The record rules a patient states as FHIR Consent resources, and the labels on documents.

A patient (or their representative) writes Consents about their own record, and the server writes those a
care organisation collected (IHE PAM France ZFA: mappers/hl7v2/consent.py); the server reads the active ones
with `provision.type` = `deny`:
- with `provision.actor` naming professionals by national identifier (`actor.reference.identifier`,
  system urn:oid:1.2.250.1.71.4.2.1): those professionals are blocked (no access at all, emergency included);
  when the provision's only `action` is `access` (consentaction), they are refused consultation only: they
  read nothing of the record (emergency included), but may still add documents to it;
- without actors and with `provision.action` `collect`: the patient opposes feeding the record: no document
  is added to it by professionals or pushes (the patient's own still are);
- without actors and with `provision.purpose` ETREAT (v3 ActReason): the patient opposes emergency access.
Other Consents are stored and returned but change no access rule.

Document visibility is `DocumentReference.securityLabel` with TRE_A07-StatutVisibiliteDocument
(`MASQUE_PS` hidden from professionals, `INVISIBLE_PATIENT` not shown to the patient until told in person,
`INVISIBLE_REPRESENTANTS_LEGAUX` not shown to a minor's representatives), by its OID or its NOS URL; and
a confidentiality (v3 Confidentiality), `N` when the writer gives none.
"""
from __future__ import annotations

from dataclasses import dataclass

RPPS = "urn:oid:1.2.250.1.71.4.2.1"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
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


@dataclass(frozen=True)
class ConsentRules:
    """What a patient's active Consents decide (stored with the record: storage/records.py)."""

    blocked: frozenset[str] = frozenset()  # professionals (IDNPS) with no access at all
    unreadable: frozenset[str] = frozenset()  # professionals refused consultation (they may still add documents)
    no_emergency: bool = False  # emergency access opposed
    no_feeding: bool = False  # feeding the record opposed

    def __or__(self, other: "ConsentRules") -> "ConsentRules":
        return ConsentRules(self.blocked | other.blocked, self.unreadable | other.unreadable,
                            self.no_emergency or other.no_emergency, self.no_feeding or other.no_feeding)


def consent_rules(consents: list[dict]) -> ConsentRules:
    """The rules a patient's Consents state (see the module docstring)."""
    found = ConsentRules()
    for consent in consents:
        provision = consent.get("provision") or {}
        if consent.get("status") != "active" or provision.get("type") != "deny":
            continue
        actors = [((actor.get("reference") or {}).get("identifier") or {}) for actor in provision.get("actor") or []]
        named = frozenset(i.get("value") for i in actors if i.get("system") == RPPS and i.get("value"))
        purposes = {c.get("code") for c in provision.get("purpose") or [] if c.get("system") == ACT_REASON}
        actions = {c.get("code") for a in provision.get("action") or [] for c in a.get("coding") or []
                   if c.get("system") == CONSENT_ACTION}
        if named:
            found |= ConsentRules(unreadable=named) if actions == {"access"} else ConsentRules(blocked=named)
        elif "collect" in actions:
            found |= ConsentRules(no_feeding=True)
        elif "ETREAT" in purposes:
            found |= ConsentRules(no_emergency=True)
    return found
