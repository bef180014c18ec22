"""What referenced software does to call the server (SMART Backend Services), for our tests, benchmarks and
the README's example: hold a private key, sign a one-time assertion naming the professional, trade it for
an access token at `/oauth/token`, and send that token as `Authorization: Bearer`.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from pymongo.database import Database

from .clients import ClientRegistry

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHM = "ES384"
# posts a form to a URL and gives back (status, JSON body); requests by default, a Flask test client in tests.
Post = Callable[[str, dict], tuple[int, dict]]


def _requests_post(url: str, form: dict) -> tuple[int, dict]:
    response = requests.post(url, data=form, timeout=30)
    return response.status_code, response.json()


class BackendClient:
    """A registered client: its id and private key, and the professional it acts for."""

    def __init__(self, origin: str, client_id: str, key: ECKey, professional: dict | None = None,
                 post: Post = _requests_post) -> None:
        self.origin = origin.rstrip("/")
        self.client_id = client_id
        self.key = key
        self.professional = professional or {"practitioner": "810000000001", "profession": "10"}
        self.post = post
        self._tokens: dict[str, tuple[str, float]] = {}

    @classmethod
    def from_key_file(cls, fhir_base: str, client_id: str, key_file: str, professional: dict | None = None,
                      post: Post = _requests_post) -> "BackendClient":
        """The client whose private key (a JWK, as `fhir-server quickstart` or `clients add --generate-key`
        write it) is in `key_file`, calling the server whose FHIR base is `fhir_base` (its origin is the
        audience)."""
        parts = urlsplit(fhir_base)
        with open(key_file, encoding="utf-8") as private:
            key = ECKey.import_key(json.load(private))
        return cls(f"{parts.scheme}://{parts.netloc}", client_id, key, professional, post)

    def assertion(self, **claims) -> str:
        now = int(time.time())
        payload = {"iss": self.client_id, "sub": self.client_id, "aud": f"{self.origin}/oauth/token",
                   "exp": now + 240, "iat": now, "jti": uuid.uuid4().hex, **self.professional, **claims}
        return jwt.encode({"alg": ALGORITHM, "kid": self.key.kid}, payload, self.key, algorithms=[ALGORITHM])

    def token(self, scope: str = "system/*.cruds") -> str:
        """An access token for `scope`, reused until a minute before it expires."""
        cached = self._tokens.get(scope)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        status, answer = self.post(f"{self.origin}/oauth/token", {
            "grant_type": "client_credentials", "scope": scope, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion()})
        if status != 200:
            raise RuntimeError(f"no token: {status} {answer}")
        self._tokens[scope] = (answer["access_token"], time.monotonic() + answer["expires_in"] - 60)
        return answer["access_token"]

    def headers(self, scope: str = "system/*.cruds") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(scope)}"}


def register(db: Database, origin: str, name: str, scopes: list[str], post: Post = _requests_post,
             professional: dict | None = None) -> BackendClient:
    """Registers a new client with a fresh key in `db` (as `fhir-server clients add` does)."""
    key = ECKey.generate_key("P-384", parameters={"alg": ALGORITHM}, auto_kid=True)
    client = ClientRegistry(db).add(name, KeySet([key]).as_dict(private=False), scopes)
    return BackendClient(origin, client.client_id, key, professional, post)


def register_in_process(app, client, name: str, scopes: list[str]) -> BackendClient:
    """Software registered in the database of an app run in this process (`create_app`), getting its tokens
    through `client`, the app's Flask test client (tests and bench/calls.py)."""
    origin = app.extensions["fhir"].settings.origin  # what assertions name; OAuth wants it as the Host too

    def post(url: str, form: dict) -> tuple[int, dict]:
        response = client.post(url.removeprefix(origin), data=form, base_url=origin)
        return response.status_code, response.get_json()
    return register(app.extensions["fhir"].store.db, origin, name, scopes, post=post)
