"""OAuth 2 routes: authorization (patients' sign-in), token, introspection and revocation endpoints, the
server's keys, SMART discovery."""
from __future__ import annotations

import json
import secrets

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Response, current_app, jsonify, request

from ..auth.keys import public_jwks
from ..auth.scopes import PERMISSIONS
from ..auth.patients import ActivationRefused, Locked, sign_in
from ..auth.representatives import display_name, minors_represented
from ..auth.server import ASSERTION_ALGORITHMS, PatientUser, origin
from ..storage.auth import PendingSignIns
from . import patient_pages

bp = Blueprint("oauth", __name__)


def _server():
    return current_app.extensions["fhir"].authorization


@bp.before_request
def addressed_to_this_server() -> Response | None:
    """OAuth answers only requests whose Host names this server (its public host, or the address it listens
    on): 400 otherwise, the OAuth error JSON (the sign-in page shows it)."""
    settings = current_app.extensions["fhir"].settings
    if settings.names_this_server(request.host):
        return None
    message = f"The Host header does not name this server: send OAuth requests to {settings.origin}"
    if request.path == "/oauth/authorize":
        return patient_pages.error_page(message)
    return _oauth_error_json("invalid_request", message)


@bp.errorhandler(OAuth2Error)
def oauth_error(error: OAuth2Error) -> Response:
    """An OAuth error raised before authlib's own handling (its https-only check): the OAuth error JSON."""
    return _oauth_error_json(error.error or "invalid_request", error.description)


def _oauth_error_json(error: str, description: str | None) -> Response:
    body = {"error": error, **({"error_description": description} if description else {})}
    return Response(json.dumps(body), 400, content_type="application/json",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@bp.post("/oauth/token")
def token() -> Response:
    return _server().create_token_response()


@bp.get("/oauth/authorize")
def authorization_page() -> Response:
    """A patient app's authorization request (code flow, PKCE): checked, then the sign-in page."""
    try:
        _server().get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return patient_pages.error_page(error.description or error.error)
    return patient_pages.sign_in_page(request.full_path)


@bp.post("/oauth/authorize")
def authorization() -> Response:
    """The sign-in form, then (for a legal representative) the choice of record: on success, back to the app
    with a code (auth/server.py, PatientSignIn)."""
    store = current_app.extensions["fhir"].store
    try:
        grant = _server().get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return patient_pages.error_page(error.description or error.error)
    if "pending" in request.form:
        return _chosen(store, grant)
    ins = request.form.get("ins", "").strip()
    try:
        patient_id = sign_in(store, ins, request.form.get("password", ""))
    except Locked as locked:
        return patient_pages.sign_in_page(request.full_path, str(locked), 429, patient_pages.retry_after(locked.until))
    except ActivationRefused as refused:
        return patient_pages.sign_in_page(request.full_path, str(refused), 400)
    minors = minors_represented(store, ins)
    if not minors:
        return _server().create_authorization_response(grant_user=PatientUser(patient_id), grant=grant)
    pending = secrets.token_urlsafe(24)
    PendingSignIns(store.db).save(pending, {"patient": patient_id, "ins": ins})
    choices = [(patient_id, "My own record")] + [
        (m.id, f"The record of {display_name(m.resource or {}, 'a minor you represent')}") for m in minors]
    return patient_pages.choice_page(request.full_path, pending, choices)


def _chosen(store, grant) -> Response:
    """The record a signed-in representative chose: their own, or a minor's they still represent."""
    pending = PendingSignIns(store.db).take(request.form["pending"])
    if pending is None:
        return patient_pages.sign_in_page(request.full_path, "Please sign in again", 400)
    act_for = request.form.get("act_for", "")
    if act_for == pending["patient"]:
        user = PatientUser(act_for)
    elif any(m.id == act_for for m in minors_represented(store, pending["ins"])):
        user = PatientUser(act_for, pending["ins"])
    else:
        return patient_pages.sign_in_page(request.full_path, "Please sign in again", 400)
    return _server().create_authorization_response(grant_user=user, grant=grant)


@bp.post("/oauth/introspect")
def introspect() -> Response:
    return _server().create_endpoint_response("introspection")


@bp.post("/oauth/revoke")
def revoke() -> Response:
    return _server().create_endpoint_response("revocation")


@bp.get("/oauth/jwks")
def jwks() -> Response:
    return jsonify(public_jwks(current_app.extensions["fhir"].tokens.keys))


@bp.get("/.well-known/smart-configuration")
@bp.get("/fhir/.well-known/smart-configuration")
def smart_configuration() -> Response:
    """SMART App Launch 2.0 discovery (`[base]/.well-known/smart-configuration`)."""
    root = origin()
    return jsonify({
        "issuer": root,
        "jwks_uri": f"{root}/oauth/jwks",
        "authorization_endpoint": f"{root}/oauth/authorize",
        "token_endpoint": f"{root}/oauth/token",
        "introspection_endpoint": f"{root}/oauth/introspect",
        "revocation_endpoint": f"{root}/oauth/revoke",
        "grant_types_supported": ["client_credentials", "authorization_code"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "scopes_supported": [f"system/*.{PERMISSIONS}", f"user/*.{PERMISSIONS}", f"patient/*.{PERMISSIONS}"],
        "capabilities": ["client-confidential-asymmetric", "client-public", "launch-standalone",
                         "context-standalone-patient", "permission-patient", "permission-v2", "permission-v1"],
    })
