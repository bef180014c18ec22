"""The portal's session and its protections: a random token in an HttpOnly, SameSite=Strict cookie (Secure over
HTTPS), the session itself in the database (storage/portal_sessions.py) so that any node serves it, idle and
absolute expiry, a CSRF token checked on every form (403 otherwise), and the headers of every page."""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import wraps
from typing import Any

from flask import Response, abort, current_app, g, redirect, request, url_for

from ...auth.representatives import still_represents
from ...storage.portal_sessions import PortalSessions

COOKIE = "portal_session"
FORM_COOKIE = "portal_form"  # before sign-in: the sign-in form's CSRF token, double-submitted
IDLE = timedelta(minutes=15)
LASTS = timedelta(hours=8)
TOUCH_AFTER = timedelta(minutes=1)  # the idle expiry is moved forward at most once a minute
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'")
CONTENT_POLICY = "default-src 'none'; img-src 'self'; object-src 'self'; frame-ancestors 'none'; base-uri 'none'"


@dataclass
class Visitor:
    """Who is signed in, and whose record they have open."""
    token: str
    person: str              # their own Patient id
    ins: str                 # their INS
    patient: str             # the record open: theirs, or a minor's they represent
    csrf: str
    names: dict[str, str]    # Patient id -> name, of the records they may open

    @property
    def representative(self) -> bool:
        return self.patient != self.person

    @property
    def whose(self) -> str:
        return self.names.get(self.patient, "")


def _sessions() -> PortalSessions:
    return PortalSessions(current_app.extensions["fhir"].store.db)


def load() -> Response | None:
    """Before each portal request: the visitor (None when signed out), and the CSRF check of a form."""
    g.visitor = None
    if request.endpoint == "portal.static":
        return None
    now = datetime.now(timezone.utc)
    token = request.cookies.get(COOKIE, "")
    stored = _sessions().get(token, now) if token else None
    if stored is not None:
        g.visitor = Visitor(token, stored["person"], stored["ins"], stored["patient"], stored["csrf"],
                            stored.get("names", {}))
        if stored["expires"] - now < IDLE - TOUCH_AFTER:
            _sessions().update(token, {"expires": now + IDLE})
        if g.visitor.representative and not still_represents(current_app.extensions["fhir"].store, g.visitor.ins,
                                                               g.visitor.patient):
            _sessions().update(token, {"patient": g.visitor.person})
            return redirect(url_for("portal.choice", ok="fin-representation"))
    if request.method == "POST":
        _check_form(now)
    return None


def _check_form(now: datetime) -> None:
    """A form must carry the token of the session (or, to sign in, that of the form cookie): 403 otherwise."""
    sent = request.form.get("csrf", "")
    if request.endpoint == "portal.sign_in":
        expected = request.cookies.get(FORM_COOKIE, "")
    elif g.visitor is None:
        abort(redirect(url_for("portal.sign_in_form", ok="session-expiree")))
    else:
        expected = g.visitor.csrf
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(403)


def start(response: Response, person: str, ins: str, names: dict[str, str]) -> None:
    """Opens a new session on the visitor's own record (a new token: one held before sign-in is worthless)."""
    old = request.cookies.get(COOKIE)
    if old:
        _sessions().end(old)
    token = secrets.token_urlsafe(32)
    _sessions().start(token, {"person": person, "ins": ins, "patient": person, "csrf": secrets.token_urlsafe(32),
                              "names": names}, datetime.now(timezone.utc), IDLE, LASTS)
    response.set_cookie(COOKIE, token, max_age=int(LASTS.total_seconds()), path="/portal", httponly=True,
                        secure=_secure(), samesite="Strict")
    response.delete_cookie(FORM_COOKIE, path="/portal")


def open_record(patient_id: str) -> None:
    _sessions().update(g.visitor.token, {"patient": patient_id})


def end() -> None:
    """Ends the visitor's session (its cookie goes with `clear`)."""
    if g.visitor is not None:
        _sessions().end(g.visitor.token)
    g.visitor = None


def clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/portal", httponly=True, secure=_secure(), samesite="Strict")


def form_token() -> str:
    """The sign-in form's CSRF token: the one its cookie holds, else a new one."""
    return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)


def keep_form_token(response: Response, token: str) -> None:
    response.set_cookie(FORM_COOKIE, token, path="/portal", httponly=True, secure=_secure(), samesite="Strict")


def _secure() -> bool:
    """Secure cookies when the page is served over HTTPS (directly, or behind the TLS proxy FHIR_BASE_URL names)."""
    return request.is_secure or current_app.extensions["fhir"].settings.origin.startswith("https:")


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """A page of a signed-in visitor: others are sent to the sign-in page."""
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if g.visitor is None:
            return redirect(url_for("portal.sign_in_form"))
        return view(*args, **kwargs)
    return guarded


def protect(response: Response) -> Response:
    """The headers of every portal answer: no framing, no caching, no sniffing, and the CSP (documents' own
    content gets a narrower one)."""
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "portal.static":
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response
