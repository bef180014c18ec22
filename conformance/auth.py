"""Credentials for the server under test: a bearer token as given, or SMART Backend Services
(client_credentials with a signed private_key_jwt assertion), renewed before it expires."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Auth:
    """What a request carries: `headers()`; `bearer:TOKEN`, `smart:CLIENT_ID:KEY_FILE` or none."""

    def __init__(self, spec: str | None, base: str, claims: dict | None = None, scope: str = "system/*.cruds",
                 session: requests.Session | None = None) -> None:
        self.spec, self.base, self.claims, self.scope = spec, base.rstrip("/"), claims or {}, scope
        self.session = session or requests.Session()
        self._token: tuple[str, float] | None = None
        kind, _, rest = (spec or "").partition(":")
        if spec and kind not in ("bearer", "smart"):
            raise ValueError(f"--auth takes bearer:TOKEN or smart:CLIENT_ID:KEY_FILE, not {spec!r}")
        if kind == "bearer":
            self._token = (rest, float("inf"))
        elif kind == "smart":
            self.client_id, _, key_file = rest.rpartition(":")
            jwk = json.loads(Path(key_file).read_text(encoding="utf-8"))
            self.key = ECKey.import_key(jwk) if jwk.get("kty") == "EC" else RSAKey.import_key(jwk)
            self.algorithm = "ES384" if jwk.get("kty") == "EC" else "RS384"

    def headers(self) -> dict[str, str]:
        if self.spec is None:
            return {}
        if self._token is None or self._token[1] <= time.monotonic():
            self._token = self._smart_token()
        return {"Authorization": f"Bearer {self._token[0]}"}

    def _smart_token(self) -> tuple[str, float]:
        endpoint = self._token_endpoint()
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": endpoint, "exp": now + 240, "iat": now,
                  "jti": uuid.uuid4().hex, **self.claims}
        assertion = jwt.encode({"alg": self.algorithm, "kid": self.key.kid}, claims, self.key,
                               algorithms=[self.algorithm])
        answer = self.session.post(endpoint, data={
            "grant_type": "client_credentials", "scope": self.scope, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion}, timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(f"the token endpoint {endpoint} answered {answer.status_code}: {answer.text[:300]}")
        body = answer.json()
        return body["access_token"], time.monotonic() + float(body.get("expires_in", 300)) - 60

    def _token_endpoint(self) -> str:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base))
        for where in (f"{self.base}/.well-known/smart-configuration", f"{origin}/.well-known/smart-configuration"):
            answer = self.session.get(where, timeout=30)
            if answer.status_code == 200:
                return answer.json()["token_endpoint"]
        raise RuntimeError(f"no SMART configuration at {self.base} or {origin}")
