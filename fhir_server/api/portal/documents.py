"""My documents: the record's documents, newest first, filtered by type and date; one document and its
content; hiding one from professionals or showing it again (its `MASQUE_PS` security label, as a JSON Patch
through the API would)."""
from __future__ import annotations

import base64
import binascii
import re

from flask import Response, current_app, g, redirect, request, url_for

from ...access.consents import HIDDEN_FROM_PROFESSIONALS, VISIBILITY_SYSTEMS
from ...access.membership import pointed_binaries
from ...errors import NotFound
from . import bp, cda
from .caller import call, find, service
from .pages import back_to, page, page_asked, with_message
from .session import CONTENT_POLICY, signed_in
from .wording import DOCUMENT_TYPES, authors, document_type, hidden_from_professionals, when

PAGE_SIZE = 20
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
SHOWN_INLINE = ("application/pdf", "image/png", "image/jpeg", "image/gif", "text/plain")
IMAGES = ("image/png", "image/jpeg", "image/gif")


@bp.get("/documents")
@signed_in
def documents() -> Response:
    chosen_type = request.args.get("type", "")
    since, until = request.args.get("du", ""), request.args.get("au", "")
    errors = {name: "Saisissez une date complète (jour, mois, année)."
              for name, value in (("du", since), ("au", until)) if value and not DAY.fullmatch(value)}
    page_number = page_asked()
    items = [("_sort", "-date"), ("_count", str(PAGE_SIZE)), ("_offset", str((page_number - 1) * PAGE_SIZE))]
    if chosen_type in DOCUMENT_TYPES:
        items.append(("type", f"http://loinc.org|{chosen_type}"))
    items += [("date", f"ge{since}")] if since and "du" not in errors else []
    items += [("date", f"le{until}")] if until and "au" not in errors else []
    bundle = find("DocumentReference", items)
    listed = [_summary(entry["resource"]) for entry in bundle.get("entry") or []
              if entry.get("search", {}).get("mode", "match") == "match"]
    total = bundle.get("total", len(listed))
    return page("documents.html", title="Mes documents", documents=listed, types=DOCUMENT_TYPES,
                chosen_type=chosen_type, since=since, until=until, errors=errors, page_number=page_number,
                more=page_number * PAGE_SIZE < total, total=total, closed=_closed())


def _summary(document: dict) -> dict:
    return {"id": document.get("id"), "type": document_type(document), "title": _title(document),
            "date": when(document.get("date") or (document.get("context") or {}).get("period", {}).get("start")),
            "authors": [a.label for a in authors(document)], "hidden": hidden_from_professionals(document)}


def _title(document: dict) -> str:
    return document.get("description") or next(
        (c["attachment"]["title"] for c in document.get("content") or [] if c.get("attachment", {}).get("title")), "")


def _closed() -> bool:
    return current_app.extensions["fhir"].lifecycle.state(g.visitor.patient) == "closed"


@bp.get("/documents/<document_id>")
@signed_in
def document(document_id: str) -> Response:
    with call("read", asked=f"DocumentReference/{document_id}") as rules:
        version = service(rules).read("DocumentReference", document_id)
    resource = version.resource or {}
    contents = [{"n": n, "type": (c.get("attachment") or {}).get("contentType") or "",
                 "title": (c.get("attachment") or {}).get("title") or f"Contenu {n + 1}"}
                for n, c in enumerate(resource.get("content") or [])]
    return page("document.html", title=document_type(resource), document=_summary(resource), contents=contents,
                images=IMAGES)


@bp.get("/documents/<document_id>/contenu/<int:n>")
@signed_in
def content(document_id: str, n: int) -> Response:
    """A document's content: shown by the browser (PDF, images, text), a CDA as its text (or its PDF body), or
    downloaded (`?telecharger=1`, and any other type)."""
    with call("read", asked=f"DocumentReference/{document_id}") as rules:
        resource = service(rules).read("DocumentReference", document_id).resource or {}
    contents = resource.get("content") or []
    if n >= len(contents):
        raise NotFound(f"DocumentReference/{document_id} has no content {n}")
    attachment = contents[n].get("attachment") or {}
    data, content_type = _attachment_data(resource, n, attachment), attachment.get("contentType") or ""
    download = request.args.get("telecharger") == "1"
    if not download and cda.is_cda(data):
        readable = cda.readable(data)
        if readable.pdf is not None:
            return _raw(readable.pdf, "application/pdf", f"document-{document_id}.pdf", inline=True)
        return page("cda.html", title=readable.title or document_type(resource), readable=readable,
                    document_id=document_id)
    inline = not download and content_type in SHOWN_INLINE
    return _raw(data, content_type if inline else "application/octet-stream",
                attachment.get("title") or f"document-{document_id}", inline)


def _attachment_data(document: dict, n: int, attachment: dict) -> bytes:
    if attachment.get("data"):
        try:
            return base64.b64decode(attachment["data"])
        except (binascii.Error, ValueError):
            return b""
    binary_id = dict(pointed_binaries(document, current_app.extensions["fhir"].settings.fhir_base)).get(n)
    if binary_id is None:
        raise NotFound("This content is not stored here")
    with call("read", asked=f"Binary/{binary_id}") as rules:
        binary = service(rules).read("Binary", binary_id)
        return service(rules).content(binary)


def _raw(data: bytes, content_type: str, name: str, inline: bool) -> Response:
    safe = re.sub(r"[^\w.-]", "_", name)[:100] or "document"
    response = Response(data, 200, content_type=content_type)
    response.headers["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{safe}"'
    response.headers["Content-Security-Policy"] = CONTENT_POLICY
    return response


@bp.post("/documents/<document_id>/visibilite")
@signed_in
def visibility(document_id: str) -> Response:
    """Hides the document from professionals (`masquer=1`) or shows it again: its MASQUE_PS label."""
    hide = request.form.get("masquer") == "1"
    with call("read", asked=f"DocumentReference/{document_id}") as rules:
        resource = service(rules).read("DocumentReference", document_id).resource or {}
    labels = [label for label in resource.get("securityLabel") or []
              if not any(c.get("code") == HIDDEN_FROM_PROFESSIONALS and c.get("system") in VISIBILITY_SYSTEMS
                         for c in label.get("coding") or [])]
    if hide:
        labels.append({"coding": [{"system": VISIBILITY_SYSTEMS[0], "code": HIDDEN_FROM_PROFESSIONALS}]})
    if labels:
        patch = [{"op": "replace" if "securityLabel" in resource else "add", "path": "/securityLabel",
                  "value": labels}]
    else:
        patch = [{"op": "remove", "path": "/securityLabel"}] if "securityLabel" in resource else []
    with call("patch", asked=f"DocumentReference/{document_id}") as rules:
        service(rules).patch("DocumentReference", document_id, patch)
    return redirect(with_message(back_to(url_for("portal.documents")), "masque" if hide else "affiche"))
