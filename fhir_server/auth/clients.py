"""The vendor registry: software allowed to call the server ("referenced", as France's record lists them).

A client is registered with its vendor's name, the public keys (JWKS) its assertions are signed with and
the SMART scopes it may be given. Its reference status is `referenced`, `suspended` or `withdrawn`; only a
referenced client gets tokens, and a token stops working as soon as its client is not referenced any
more (the check is made on every use, server.py). Kept by storage/auth.py, `_id` = client id.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

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
    client_id: str
    name: str
    status: str
    jwks: dict
    scopes: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(granted((scope or " ".join(self.scopes)).split(), self.scopes))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # clients authenticate with signed assertions only

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == AUTH_METHOD

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials" and self.status == "referenced"

    def public_keys(self) -> KeySet:
        return KeySet.import_key_set(self.jwks)


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
        client = Client(secrets.token_urlsafe(16), name.strip(), "referenced", jwks, scopes)
        self.store.insert(client.client_id, {"name": client.name, "status": client.status, "jwks": jwks,
                                             "scopes": scopes})
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
    return Client(doc["_id"], doc["name"], doc["status"], doc["jwks"], doc["scopes"])


def _check_jwks(jwks: object) -> None:
    if not isinstance(jwks, dict) or not jwks.get("keys"):
        raise InvalidRegistration("The client's keys must be a JWKS: {\"keys\": [...]}")
    try:
        keys = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise InvalidRegistration(f"The client's JWKS cannot be read: {error}")
    if any(key.is_private for key in keys.keys):
        raise InvalidRegistration("The JWKS holds a private key: register the public keys only")
