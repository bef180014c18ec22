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
        seconds = max(1, int((locked.until - locked.until.now(locked.until.tzinfo)).total_seconds()))
        return _page("Open your health record", _activation_form(str(locked)), 429, {"Retry-After": str(seconds)})
    except ActivationRefused as refused:
        return _page("Open your health record", _activation_form(str(refused)), 400)
    return _page("Your record is open", "<p>Your password is set. You can now sign in with your INS and it.</p>")
