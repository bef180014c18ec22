"""Signing in (the patients' own sign-in: INS and password, with its lockout), choosing whose record to open (a
legal representative), signing out."""
from __future__ import annotations

from flask import Response, current_app, g, redirect, request, url_for

from ...auth.patients import ActivationRefused, Locked, sign_in as check_password
from ...auth.representatives import display_name, minors_represented, still_represents
from ..patient_pages import retry_after
from . import bp, session
from .caller import call, service
from .pages import page, with_message

REFUSED = "Le numéro INS ou le mot de passe ne correspond pas."
LOCKED = "Trop de tentatives erronées : votre compte est bloqué pendant 15 minutes. Réessayez plus tard."


@bp.get("/")
def home() -> Response:
    return redirect(url_for("portal.documents" if g.visitor else "portal.sign_in_form"))


@bp.get("/connexion")
def sign_in_form() -> Response:
    return _form()


def _form(error: str = "", status: int = 200, headers: dict | None = None, ins: str = "") -> Response:
    token = session.form_token()
    response = page("sign_in.html", status, title="Connexion à mon dossier de santé", error=error, ins=ins,
                    form_token=token)
    response.headers.update(headers or {})
    session.keep_form_token(response, token)
    return response


@bp.post("/connexion")
def sign_in() -> Response:
    """The INS and password; then the visitor's own record, or the choice of record for a representative."""
    store = current_app.extensions["fhir"].store
    ins = request.form.get("ins", "").strip()
    try:
        person = check_password(store, ins, request.form.get("password", ""))
    except Locked as locked:
        return _form(LOCKED, 429, retry_after(locked.until), ins)
    except ActivationRefused:
        return _form(REFUSED, 400, ins=ins)
    minors = minors_represented(store, ins)
    g.visitor = session.Visitor("", person, ins, person, "", {})
    with call("operation", operation="sign-in", asked=f"Patient/{person}") as rules:
        own = service(rules).read("Patient", person)
    names = {person: display_name(own.resource or {}, "Votre dossier"),
             **{m.id: display_name(m.resource or {}, "Un enfant que vous représentez") for m in minors}}
    response = redirect(url_for("portal.choice" if minors else "portal.documents"))
    session.start(response, person, ins, names)
    return response


@bp.get("/choisir")
@session.signed_in
def choice() -> Response:
    return page("choice.html", title="Choisir un dossier")


@bp.post("/choisir")
@session.signed_in
def choose() -> Response:
    """A representative opens their own record or that of a minor they still represent."""
    chosen = request.form.get("dossier", "")
    visitor = g.visitor
    if chosen != visitor.person and not (chosen in visitor.names and still_represents(
            current_app.extensions["fhir"].store, visitor.ins, chosen)):
        return page("choice.html", 400, title="Choisir un dossier", error="Choisissez l'un des dossiers proposés.")
    session.open_record(chosen)
    return redirect(with_message(url_for("portal.documents"), "dossier-choisi"))


@bp.post("/deconnexion")
def sign_out() -> Response:
    session.end()
    response = redirect(with_message(url_for("portal.sign_in_form"), "deconnecte"))
    session.clear(response)
    return response
