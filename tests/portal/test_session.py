"""The portal's cookies and forms, in-process (no browser): Secure cookies behind an HTTPS origin, the sign-in
form's double-submitted CSRF token, the headers of every answer."""
from __future__ import annotations

import re

import pytest

from fhir_server import create_app


@pytest.fixture(scope="module")
def https_app(database):
    """The app as served behind a TLS proxy (FHIR_BASE_URL is https)."""
    uri, name = database
    return create_app({"mongodb_uri": uri, "database_name": name, "base_url": "https://record.example.org/fhir"})


def test_behind_https_the_cookies_are_secure(https_app):
    client = https_app.test_client()
    form = client.get("/portal/connexion")
    cookie = form.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/portal" in cookie
    assert form.headers["X-Frame-Options"] == "DENY" and form.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in form.headers["Content-Security-Policy"]


def test_the_sign_in_form_needs_its_own_token(https_app):
    client = https_app.test_client()
    page = client.get("/portal/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    forged = client.post("/portal/connexion", data={"csrf": "forged", "ins": "1", "password": "x"})
    assert forged.status_code == 403
    other = https_app.test_client()  # a form of another browser: its cookie does not hold that token
    assert other.post("/portal/connexion", data={"csrf": token, "ins": "1", "password": "x"}).status_code == 403
    wrong = client.post("/portal/connexion", data={"csrf": token, "ins": "1", "password": "x"})
    assert wrong.status_code == 400 and "ne correspond pas" in wrong.get_data(as_text=True)


def test_forms_without_a_session_lead_to_signing_in(https_app):
    answer = https_app.test_client().post("/portal/acces/bloquer", data={"rpps": "81000000009"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/portal/connexion?ok=session-expiree")
