"""OAuth 2 routes: the token, introspection and revocation endpoints, the server's keys, SMART discovery."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from ..auth.keys import public_jwks, signing_keys
from ..auth.scopes import PERMISSIONS
from ..auth.server import ASSERTION_ALGORITHMS, origin

bp = Blueprint("oauth", __name__)


def _server():
    return current_app.extensions["fhir"].authorization


@bp.post("/oauth/token")
def token() -> Response:
    return _server().create_token_response()


@bp.post("/oauth/introspect")
def introspect() -> Response:
    return _server().create_endpoint_response("introspection")


@bp.post("/oauth/revoke")
def revoke() -> Response:
    return _server().create_endpoint_response("revocation")


@bp.get("/oauth/jwks")
def jwks() -> Response:
    return jsonify(public_jwks(signing_keys(current_app.extensions["fhir"].store.db)))


@bp.get("/.well-known/smart-configuration")
@bp.get("/fhir/.well-known/smart-configuration")
def smart_configuration() -> Response:
    """SMART App Launch 2.0 discovery (`[base]/.well-known/smart-configuration`)."""
    root = origin()
    return jsonify({
        "issuer": root,
        "jwks_uri": f"{root}/oauth/jwks",
        "token_endpoint": f"{root}/oauth/token",
        "introspection_endpoint": f"{root}/oauth/introspect",
        "revocation_endpoint": f"{root}/oauth/revoke",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "scopes_supported": [f"system/*.{PERMISSIONS}", f"user/*.{PERMISSIONS}", f"patient/*.{PERMISSIONS}"],
        "capabilities": ["client-confidential-asymmetric", "permission-v2", "permission-v1"],
    })
