"""Who can see: the professionals blocked (Consents denying them, as the API's patients write them), blocking
and unblocking one (among those the record's documents and history name, or by RPPS number), and the
opposition to emergency access (a Consent denying the purpose ETREAT)."""
from __future__ import annotations

import re

from flask import Response, g, redirect, request, url_for

from ...access.consents import ACT_REASON, RPPS, consent_rules
from . import bp
from .caller import call, find, service
from .pages import page, with_message
from .session import signed_in
from .wording import Professional, directory

RPPS_NUMBER = re.compile(r"[0-9A-Za-z]{5,20}")  # an RPPS number has 11 digits; older IDNPS forms are alphanumeric
POLICY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}]}
PRIVACY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]}
CATEGORY = [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}]
PARTICIPANT = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]}


def _consents() -> list[dict]:
    bundle = find("Consent", [("status", "active"), ("_count", "200")])
    return [e["resource"] for e in bundle.get("entry") or []]


def _denied(consent: dict) -> list[str]:
    """The professionals an active Consent blocks (as access/consents.py reads it)."""
    return sorted(consent_rules([consent]).blocked)


def _against_emergency(consent: dict) -> bool:
    return consent_rules([consent]).no_emergency


@bp.get("/acces")
@signed_in
def sharing(error: str = "", status: int = 200, rpps: str = "") -> Response:
    consents = _consents()
    documents = [e["resource"] for e in find("DocumentReference", [("_count", "100"), ("_sort", "-date")])
                 .get("entry") or [] if e.get("search", {}).get("mode", "match") == "match"]
    events = [e["resource"] for e in find("AuditEvent", [("_count", "100"), ("agent-role:missing", "false")])
              .get("entry") or []]
    known = directory(documents, events)
    blocked = {r: known.get(r, Professional(r)) for c in consents for r in _denied(c)}
    choices = [p for r, p in sorted(known.items(), key=lambda i: i[1].label) if r not in blocked]
    return page("sharing.html", status, title="Qui peut voir mon dossier", blocked=blocked, choices=choices,
                no_emergency=any(_against_emergency(c) for c in consents), error=error, rpps=rpps)


@bp.post("/acces/bloquer")
@signed_in
def block() -> Response:
    rpps = (request.form.get("rpps") or request.form.get("connu") or "").strip()
    if not RPPS_NUMBER.fullmatch(rpps):
        return sharing("Choisissez un professionnel dans la liste, ou saisissez son numéro RPPS (11 chiffres).",
                       400, rpps)
    _add_consent({"actor": [{"role": PARTICIPANT, "reference": {"identifier": {"system": RPPS, "value": rpps}}}]})
    return redirect(with_message(url_for("portal.sharing"), "bloque"))


@bp.post("/acces/debloquer")
@signed_in
def unblock() -> Response:
    """Lifts every block of this professional: a Consent blocking them alone is deleted, one naming others too
    keeps those."""
    rpps = request.form.get("rpps", "")
    for consent in _consents():
        if rpps not in _denied(consent):
            continue
        actors = [a for a in consent["provision"].get("actor") or []
                  if ((a.get("reference") or {}).get("identifier") or {}).get("value") != rpps]
        if actors:
            updated = {**consent, "provision": {**consent["provision"], "actor": actors}}
            with call("update", asked=f"Consent/{consent['id']}") as rules:
                service(rules).update("Consent", consent["id"], updated)
        else:
            _delete_consent(consent["id"])
    return redirect(with_message(url_for("portal.sharing"), "debloque"))


@bp.post("/acces/urgence")
@signed_in
def emergency() -> Response:
    """Opposes emergency access (`opposer=1`), or lifts the opposition."""
    if request.form.get("opposer") == "1":
        _add_consent({"purpose": [{"system": ACT_REASON, "code": "ETREAT"}]})
        return redirect(with_message(url_for("portal.sharing"), "urgence-refusee"))
    for consent in _consents():
        if _against_emergency(consent):
            _delete_consent(consent["id"])
    return redirect(with_message(url_for("portal.sharing"), "urgence-permise"))


def _add_consent(provision: dict) -> None:
    consent = {"resourceType": "Consent", "status": "active", "scope": PRIVACY, "category": CATEGORY,
               "patient": {"reference": f"Patient/{g.visitor.patient}"}, "policyRule": POLICY,
               "provision": {"type": "deny", **provision}}
    with call("create") as rules:
        service(rules).create("Consent", consent)


def _delete_consent(consent_id: str) -> None:
    with call("delete", asked=f"Consent/{consent_id}") as rules:
        service(rules).delete("Consent", consent_id)
