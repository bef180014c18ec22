"""The vendor registry: software allowed to call the server ("referenced", as France's record lists them).

A client is registered with its vendor's name, the public keys (JWKS) its assertions are signed with and
the SMART scopes it may be given. Its reference status is `referenced`, `suspended` or `withdrawn`; only a
referenced client gets tokens, and a token stops working once its client is not referenced any more: at
once for introspection, within FHIR_TOKEN_RECHECK_SECONDS for FHIR requests (server.py, recheck.py). Kept by
storage/auth.py, `_id` = client id.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from authlib.oauth2.rfc6749 import ClientMixin
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pymongo.database import Database

from ..storage.auth import ClientStore
from .scopes import granted, parse_scope

STATUSES = ("referenced", "suspended", "withdrawn")
AUTH_METHOD = "private_key_jwt"


class InvalidRegistration(ValueError):
    """A client cannot be registered as given (the message says why)."""


@dataclass
class Client(ClientMixin):
    """Confidential software (backend services: signed assertions, `jwks`) or a public patient app (the
    authorization code flow with PKCE, `redirect_uris`, no secret at all)."""
    client_id: str
    name: str
    status: str
    jwks: dict | None
    scopes: list[str]
    redirect_uris: list[str] = field(default_factory=list)

    @property
    def public(self) -> bool:
        return bool(self.redirect_uris)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(granted((scope or " ".join(self.scopes)).split(), self.scopes))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # no client has a secret: assertions, or PKCE for public apps

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == ("none" if self.public else AUTH_METHOD)

    def check_response_type(self, response_type: str) -> bool:
        return self.public and response_type == "code" and self.status == "referenced"

    def check_grant_type(self, grant_type: str) -> bool:
        expected = "authorization_code" if self.public else "client_credentials"
        return grant_type == expected and self.status == "referenced"

    def public_keys(self) -> KeySet | None:
        if self.jwks is None:
            return None
        return KeySet.import_key_set(self.jwks)


def new_client_id() -> str:
    """A random client id that starts with a letter or digit: one starting with `-` would be taken for an
    option by the command-line tools (`clients suspend ID`, `mllp --client-id ID`)."""
    while True:
        client_id = secrets.token_urlsafe(16)
        if client_id[0].isalnum():
            return client_id


class ClientRegistry:
    def __init__(self, db: Database) -> None:
        self.store = ClientStore(db)

    def add(self, name: str, jwks: dict, scopes: list[str]) -> Client:
        """Registers a referenced client; its id is generated."""
        if not name.strip():
            raise InvalidRegistration("A client needs its vendor's name")
        _check_jwks(jwks)
        bad = [s for s in scopes if parse_scope(s) is None]
        if bad or not scopes:
            raise InvalidRegistration(f"Scopes must be SMART scopes such as system/*.rs, not {bad or 'none'}")
        client = Client(new_client_id(), name.strip(), "referenced", jwks, scopes)
        self.store.insert(client.client_id, {"name": client.name, "status": client.status, "jwks": jwks,
                                             "scopes": scopes})
        return client

    def add_public(self, name: str, redirect_uris: list[str], scopes: list[str]) -> Client:
        """Registers a referenced patient app: redirect URIs (https, or http on the loopback) and `patient/`
        scopes only."""
        if not name.strip():
            raise InvalidRegistration("A client needs its vendor's name")
        bad_uris = [u for u in redirect_uris if not u.startswith(("https://", "http://127.0.0.1", "http://localhost"))]
        if bad_uris or not redirect_uris:
            raise InvalidRegistration(f"Redirect URIs must be https (or loopback http), not {bad_uris or 'none'}")
        parsed = [parse_scope(s) for s in scopes]
        if not scopes or any(p is None or p.context != "patient" for p in parsed):
            raise InvalidRegistration("A patient app may only have patient/ scopes such as patient/*.rs")
        client = Client(new_client_id(), name.strip(), "referenced", None, scopes, list(redirect_uris))
        self.store.insert(client.client_id, {"name": client.name, "status": client.status, "jwks": None,
                                             "scopes": scopes, "redirect_uris": client.redirect_uris})
        return client

    def get(self, client_id: object) -> Client | None:
        if not isinstance(client_id, str):
            return None
        doc = self.store.get(client_id)
        return _client(doc) if doc else None

    def all(self) -> list[Client]:
        return [_client(doc) for doc in self.store.all()]

    def set_status(self, client_id: str, status: str) -> bool:
        """Changes a client's reference status; False when the client is unknown."""
        if status not in STATUSES:
            raise InvalidRegistration(f"A client's status is one of {', '.join(STATUSES)}")
        return self.store.set_status(client_id, status)


def _client(doc: dict) -> Client:
    return Client(doc["_id"], doc["name"], doc["status"], doc["jwks"], doc["scopes"], doc.get("redirect_uris") or [])


def _check_jwks(jwks: object) -> None:
    if not isinstance(jwks, dict) or not jwks.get("keys"):
        raise InvalidRegistration("The client's keys must be a JWKS: {\"keys\": [...]}")
    try:
        keys = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise InvalidRegistration(f"The client's JWKS cannot be read: {error}")
    if any(key.is_private for key in keys.keys):
        raise InvalidRegistration("The JWKS holds a private key: register the public keys only")
