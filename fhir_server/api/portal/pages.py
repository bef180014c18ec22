"""Rendering the portal's pages: the layout's context (whose record is open, the forms' token, the message of
an action just done) and the error pages."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, render_template, request
from werkzeug.exceptions import HTTPException

from ...errors import FhirError
from ...storage import DatabaseError

log = logging.getLogger(__name__)

# What an action just done says (`?ok=...` after its redirect), announced to screen readers.
DONE = {
    "masque": "Le document est masqué aux professionnels de santé.",
    "affiche": "Le document est de nouveau visible par les professionnels de santé.",
    "bloque": "Ce professionnel n'a plus accès au dossier.",
    "debloque": "Ce professionnel a de nouveau accès au dossier, selon les règles habituelles.",
    "urgence-refusee": "Vous vous opposez à l'accès en urgence : plus aucun professionnel ne peut l'utiliser.",
    "urgence-permise": "L'accès en urgence est de nouveau possible.",
    "notifications": "Vos choix de notifications sont enregistrés.",
    "email": "L'adresse e-mail des notifications est enregistrée.",
    "ferme": "Le dossier est fermé : plus personne ne peut consulter ses documents. Vous pouvez le rouvrir.",
    "rouvert": "Le dossier est de nouveau ouvert.",
    "dossier-choisi": "Vous consultez ce dossier.",
    "deconnecte": "Vous êtes déconnecté.",
    "session-expiree": "Votre session a expiré : connectez-vous de nouveau.",
    "fin-representation": "Vous ne pouvez plus agir pour ce dossier : votre propre dossier est ouvert.",
}
STATUS_TITLES = {400: "Demande incorrecte", 403: "Action refusée", 404: "Page introuvable",
                 410: "Ce document n'existe plus", 422: "Action impossible", 429: "Trop de tentatives"}
STATUS_TEXTS = {403: "Cette action n'est pas permise. Si vous avez envoyé un formulaire, rechargez la page et "
                     "recommencez.",
                404: "Cette page ou ce document n'existe pas, ou vous n'y avez pas accès."}


def page(template: str, status: int = 200, **context) -> Response:
    """A portal page: the template with the layout's context."""
    html = render_template(f"portal/{template}", visitor=g.get("visitor"), done=DONE.get(request.args.get("ok", "")),
                           **context)
    return Response(html, status, content_type="text/html; charset=utf-8")


def page_asked() -> int:
    """The page of a paged list the visitor asked for (`?page=`), 1 by default."""
    asked = request.args.get("page", "1")
    return max(int(asked), 1) if asked.isdigit() and len(asked) < 6 else 1


def back_to(default: str) -> str:
    """Where a form sends the visitor back: the page it names (`retour`), if a portal page, else `default`."""
    target = request.form.get("retour", "")
    parts = urlsplit(target)
    if target.startswith("/portal/") and not parts.scheme and not parts.netloc and "\\" not in target:
        return target
    return default


def with_message(url: str, message: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}ok={message}"


def register_errors(bp: Blueprint) -> None:
    """Errors of the portal's views as pages (not the API's OperationOutcomes); a refusal shows nothing more
    than the API's answer would."""
    @bp.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        return page("error.html", status, title=STATUS_TITLES.get(status, "Erreur"),
                    text=STATUS_TEXTS.get(status, "La demande n'a pas pu aboutir."))

    @bp.errorhandler(DatabaseError)
    def unavailable(error: DatabaseError) -> Response:
        log.error("Database error on %s %s: %s", request.method, request.path, error)
        return page("error.html", 503, title="Service indisponible",
                    text="Le service est momentanément indisponible. Réessayez dans quelques minutes.")

    @bp.errorhandler(FhirError)
    def refused(error: FhirError) -> Response:
        status = error.status
        text = STATUS_TEXTS.get(status) or "; ".join(i.get("diagnostics", "") for i in error.outcome()["issue"])
        return page("error.html", status, title=STATUS_TITLES.get(status, "Erreur"), text=text)
