"""The patients' pages: plain, accessible HTML forms (labels, autocomplete hints, errors announced)."""
from __future__ import annotations

from html import escape

from flask import Blueprint, Response, current_app, request

from ..auth.patients import MIN_PASSWORD, ActivationRefused, Locked, activate

bp = Blueprint("patient", __name__, url_prefix="/patient")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body><main>
<h1>{title}</h1>
{body}
</main></body></html>
"""


def _page(title: str, body: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(_PAGE.format(title=escape(title), body=body), status, headers=headers,
                    content_type="text/html; charset=utf-8")


def _activation_form(message: str = "") -> str:
    alert = f'<p role="alert"><strong>{escape(message)}</strong></p>\n' if message else ""
    return alert + f"""<p>Use the provisional code from your letter to open your health record.</p>
<form method="post" action="/patient/activate">
<p><label for="ins">Your INS (social security number)</label><br>
<input id="ins" name="ins" inputmode="numeric" autocomplete="off" required></p>
<p><label for="code">Provisional code</label><br>
<input id="code" name="code" autocomplete="one-time-code" required></p>
<p><label for="birth_date">Birth date</label><br>
<input id="birth_date" name="birth_date" type="date" autocomplete="bday" required></p>
<p><label for="password">Choose a password ({MIN_PASSWORD} characters at least)</label><br>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="{MIN_PASSWORD}" required></p>
<p><button type="submit">Open my record</button></p>
</form>"""


@bp.get("/activate")
def activation_form() -> Response:
    return _page("Open your health record", _activation_form())


@bp.post("/activate")
def activation() -> Response:
    form = request.form
    store = current_app.extensions["fhir"].store
    try:
        activate(store, form.get("ins", ""), form.get("code", ""), form.get("birth_date", ""),
                 form.get("password", ""))
    except Locked as locked:
        return _page("Open your health record", _activation_form(str(locked)), 429, retry_after(locked.until))
    except ActivationRefused as refused:
        return _page("Open your health record", _activation_form(str(refused)), 400)
    return _page("Your record is open", "<p>Your password is set. You can now sign in with your INS and it.</p>")


def sign_in_page(action: str, message: str = "", status: int = 200, headers: dict | None = None) -> Response:
    """The patient's sign-in form; `action` keeps the app's authorization request in its query string."""
    alert = f'<p role="alert"><strong>{escape(message)}</strong></p>\n' if message else ""
    body = alert + f"""<p>An application asks to read your health record. Sign in to allow it.</p>
<form method="post" action="{escape(action)}">
<p><label for="ins">Your INS (social security number)</label><br>
<input id="ins" name="ins" inputmode="numeric" autocomplete="username" required></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in and allow</button></p>
</form>
<p><a href="/patient/activate">First time? Open your record with the code from your letter.</a></p>"""
    return _page("Sign in to your health record", body, status, headers)


def error_page(message: str) -> Response:
    """An authorization request that cannot go back to the app (unknown app or redirect URI)."""
    return _page("This request cannot be completed", f'<p role="alert">{escape(message)}</p>', 400)


def retry_after(until) -> dict:
    return {"Retry-After": str(max(1, int((until - until.now(until.tzinfo)).total_seconds())))}


def choice_page(action: str, pending: str, choices: list[tuple[str, str]]) -> Response:
    """A legal representative chooses whose record the app may open."""
    options = "\n".join(
        f'<p><input type="radio" id="act_for_{n}" name="act_for" value="{escape(value)}"{" checked" if n == 0 else ""}>'
        f' <label for="act_for_{n}">{escape(label)}</label></p>' for n, (value, label) in enumerate(choices))
    body = f"""<form method="post" action="{escape(action)}">
<input type="hidden" name="pending" value="{escape(pending)}">
<fieldset><legend>Which record should the application open?</legend>
{options}
</fieldset>
<p><button type="submit">Continue</button></p>
</form>"""
    return _page("Choose a record", body)
