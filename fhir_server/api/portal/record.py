"""My record: the notices the owner gets (service/notify.py NoticeChoices) and where, closing and reopening the
record, and its definitive deletion after a confirmation that says what is lost ($close-record,
$reopen-record and $delete-record's services)."""
from __future__ import annotations

from flask import Response, current_app, g, redirect, request, url_for

from ...errors import BadRequest, Unprocessable
from . import bp, session
from .caller import call, service
from .pages import page, with_message
from .session import signed_in


def _services():
    return current_app.extensions["fhir"]


@bp.get("/notifications")
@signed_in
def notices(error: str = "", status: int = 200) -> Response:
    with call("operation", operation="notice-choices-read") as rules:
        chosen = _services().notices.read(rules, g.visitor.patient)
    return page("notifications.html", status, title="Mes notifications", chosen=chosen)


@bp.post("/notifications")
@signed_in
def choose_notices() -> Response:
    choices = {kind: request.form.get(kind) == "1" for kind in ("document-changed", "consultation")}
    with call("operation", operation="notice-choices") as rules:
        _services().notices.choose(rules, g.visitor.patient, choices)
    return redirect(with_message(url_for("portal.notices"), "notifications"))


@bp.get("/dossier")
@signed_in
def record(email_error: str = "", email: str | None = None, status: int = 200) -> Response:
    with call("operation", operation="notice-choices-read") as rules:
        chosen = _services().notices.read(rules, g.visitor.patient)
    return page("record.html", status, title="Mon dossier", state=_services().lifecycle.state(g.visitor.patient),
                email=chosen["email"] if email is None else email, email_error=email_error)


@bp.post("/dossier/email")
@signed_in
def set_email() -> Response:
    email = request.form.get("email", "").strip()
    try:
        with call("operation", operation="notice-email") as rules:
            _services().notices.set_email(rules, g.visitor.patient, email)
    except Unprocessable:
        return record("Saisissez une adresse e-mail complète, par exemple nom@exemple.fr.", email, 400)
    return redirect(with_message(url_for("portal.record"), "email"))


@bp.post("/dossier/fermer")
@signed_in
def close() -> Response:
    patient_id = g.visitor.patient
    with call("operation", operation="close-record", asked=f"Patient/{patient_id}") as rules:
        service(rules).read("Patient", patient_id)
        _services().lifecycle.close(patient_id)
    return redirect(with_message(url_for("portal.record"), "ferme"))


@bp.post("/dossier/rouvrir")
@signed_in
def reopen() -> Response:
    patient_id = g.visitor.patient
    with call("operation", operation="reopen-record", asked=f"Patient/{patient_id}") as rules:
        service(rules).read("Patient", patient_id)
        if not _services().lifecycle.reopen(patient_id):
            raise BadRequest("Ce dossier n'est pas fermé.", code="business-rule")
    return redirect(with_message(url_for("portal.record"), "rouvert"))


@bp.get("/dossier/supprimer")
@signed_in
def deletion(error: str = "", status: int = 200) -> Response:
    return page("delete.html", status, title="Supprimer définitivement le dossier", error=error)


@bp.post("/dossier/supprimer")
@signed_in
def delete() -> Response:
    """Definitive deletion, once the visitor ticked that they understand what is lost."""
    if request.form.get("confirme") != "oui":
        return deletion("Cochez la case pour confirmer que vous avez compris ce qui sera perdu.", 400)
    patient_id = g.visitor.patient
    with call("operation", operation="delete-record", asked=f"Patient/{patient_id}", purges=True) as rules:
        service(rules).read("Patient", patient_id)
        erased = _services().lifecycle.delete(patient_id)
    session.end()
    response = page("deleted.html", title="Dossier supprimé", erased=erased)
    session.clear(response)
    return response
