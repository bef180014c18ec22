"""The authorization server: SMART Backend Services tokens for referenced vendor software, with real signed
assertions against the running server, and every refusal."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from fhir_server.auth.clients import ClientRegistry, InvalidRegistration
from fhir_server.storage.mongo import ensure_indexes
from tests.conftest import REPO_ROOT

from .test_patients import REDIRECT, pkce

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PROFESSIONAL = {"practitioner": "810000000001", "profession": "10", "organization": "urn:oid:1.2.250.1.71.4.2.2|1"}


class Vendor:
    """A registered client and its private key, signing assertions as vendor software does."""

    def __init__(self, registry: ClientRegistry, scopes: list[str], key=None) -> None:
        self.key = key or ECKey.generate_key("P-384", parameters={"alg": "ES384"}, auto_kid=True)
        public = KeySet([self.key]).as_dict(private=False)
        self.client = registry.add(f"Vendor {uuid.uuid4().hex[:6]}", public, scopes)
        self.id = self.client.client_id

    def assertion(self, origin: str, key=None, **claims) -> str:
        now = int(time.time())
        payload = {"iss": self.id, "sub": self.id, "aud": f"{origin}/oauth/token", "exp": now + 240,
                   "iat": now, "jti": uuid.uuid4().hex, **PROFESSIONAL, **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        signer = key or self.key
        alg = signer.get("alg") or "ES384"
        return jwt.encode({"alg": alg, "kid": signer.kid}, payload, signer, algorithms=[alg])


@pytest.fixture(scope="module")
def registry(db):
    ensure_indexes(db, [])
    return ClientRegistry(db)


@pytest.fixture(scope="module")
def origin(base) -> str:
    return base.removesuffix("/fhir")


def token_request(origin: str, assertion: str, scope: str | None = "system/*.rs", headers: dict | None = None,
                  **form) -> requests.Response:
    data = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, **form}
    if scope is not None:
        data["scope"] = scope
    return requests.post(f"{origin}/oauth/token", data=data, headers=headers)


def server_keys(origin: str) -> KeySet:
    return KeySet.import_key_set(requests.get(f"{origin}/oauth/jwks").json())


def test_a_referenced_vendor_gets_a_token_about_its_professional(registry, origin, base):
    vendor = Vendor(registry, ["system/*.rs", "system/DocumentReference.c"])
    response = token_request(origin, vendor.assertion(origin, purpose_of_use="ETREAT"),
                             scope="system/Patient.rs system/DocumentReference.cruds user/*.rs")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 300
    assert answer["scope"] == "system/Patient.rs system/DocumentReference.crs"  # narrowed to what it may have
    claims = jwt.decode(answer["access_token"], server_keys(origin)).claims
    assert claims["client_id"] == vendor.id and claims["iss"] == origin and claims["aud"] == base
    assert claims["practitioner"] == "urn:oid:1.2.250.1.71.4.2.1|810000000001"
    assert (claims["profession"], claims["purpose_of_use"]) == ("10", "ETREAT")
    assert claims["organization"] == PROFESSIONAL["organization"]
    assert claims["exp"] - claims["iat"] == 300


def test_rsa_keys_and_the_default_scope(registry, origin):
    key = RSAKey.generate_key(2048, parameters={"alg": "RS384"}, auto_kid=True)
    vendor = Vendor(registry, ["system/Patient.rs"], key=key)
    response = token_request(origin, vendor.assertion(origin), scope=None)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "system/Patient.rs"


@pytest.mark.parametrize("case, status, error", [
    ("unknown client", 400, "invalid_client"),
    ("another key", 400, "invalid_client"),
    ("expired", 400, "invalid_client"),
    ("too long-lived", 400, "invalid_client"),
    ("other audience", 400, "invalid_client"),
    ("no professional", 400, "invalid_request"),
    ("bad purpose", 400, "invalid_request"),
    ("scope not allowed", 400, "invalid_scope"),
    ("suspended", 400, "unauthorized_client"),
    ("withdrawn", 400, "unauthorized_client"),
    ("not a jwt", 400, "invalid_client"),
])
def test_refusals(registry, origin, case, status, error):
    vendor = Vendor(registry, ["system/*.rs"])
    now = int(time.time())
    assertion = {
        "unknown client": lambda: vendor.assertion(origin, iss="nobody", sub="nobody"),
        "another key": lambda: vendor.assertion(origin, key=ECKey.generate_key("P-384", parameters={"alg": "ES384"},
                                                                               auto_kid=True)),
        "expired": lambda: vendor.assertion(origin, exp=now - 120, iat=now - 300),
        "too long-lived": lambda: vendor.assertion(origin, exp=now + 3600),
        "other audience": lambda: vendor.assertion(origin, aud="https://elsewhere.example/oauth/token"),
        "no professional": lambda: vendor.assertion(origin, practitioner=None),
        "bad purpose": lambda: vendor.assertion(origin, purpose_of_use="CURIOSITY"),
    }.get(case, lambda: vendor.assertion(origin))()
    if case == "not a jwt":
        assertion = "not.a.jwt"
    if case in ("suspended", "withdrawn"):
        registry.set_status(vendor.id, {"suspended": "suspended", "withdrawn": "withdrawn"}[case])
    response = token_request(origin, assertion, scope="patient/*.rs" if case == "scope not allowed" else "system/*.rs")
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


def test_an_assertion_is_used_once(registry, origin):
    vendor = Vendor(registry, ["system/*.rs"])
    assertion = vendor.assertion(origin)
    assert token_request(origin, assertion).status_code == 200
    replayed = token_request(origin, assertion)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_client"


def introspect(origin: str, vendor: Vendor, token: str) -> dict:
    response = requests.post(f"{origin}/oauth/introspect", data={
        "token": token, "client_assertion_type": ASSERTION_TYPE, "client_assertion": vendor.assertion(origin)})
    assert response.status_code == 200, response.text
    return response.json()


def test_introspection_revocation_and_suspension(registry, origin):
    vendor = Vendor(registry, ["system/*.rs"])
    first = token_request(origin, vendor.assertion(origin)).json()["access_token"]
    second = token_request(origin, vendor.assertion(origin)).json()["access_token"]
    active = introspect(origin, vendor, first)
    assert active["active"] is True and active["client_id"] == vendor.id and active["scope"] == "system/*.rs"
    assert active["practitioner"].endswith("|810000000001")
    assert introspect(origin, vendor, "garbage") == {"active": False}
    revoked = requests.post(f"{origin}/oauth/revoke", data={
        "token": first, "client_assertion_type": ASSERTION_TYPE, "client_assertion": vendor.assertion(origin)})
    assert revoked.status_code == 200
    assert introspect(origin, vendor, first) == {"active": False}
    assert introspect(origin, vendor, second)["active"] is True
    checker = Vendor(registry, ["system/*.rs"])
    registry.set_status(vendor.id, "suspended")  # introspection reads the database: inactive at once
    assert introspect(origin, checker, second) == {"active": False}
    unauthenticated = requests.post(f"{origin}/oauth/introspect", data={"token": second})
    assert unauthenticated.status_code == 400


def test_discovery_and_public_keys(base, origin):
    config = requests.get(f"{base}/.well-known/smart-configuration").json()
    assert config["token_endpoint"] == f"{origin}/oauth/token"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt", "none"]
    assert {"RS384", "ES384"} <= set(config["token_endpoint_auth_signing_alg_values_supported"])
    assert "client-confidential-asymmetric" in config["capabilities"]
    assert requests.get(f"{origin}/.well-known/smart-configuration").json() == config
    keys = requests.get(config["jwks_uri"]).json()["keys"]
    assert keys and all("d" not in key for key in keys)


def test_only_a_referenced_patient_app_is_shown_the_sign_in_page(registry, origin):
    """A patient app's authorization request (response_type=code, PKCE) gets the sign-in page while the app is
    referenced; suspended or withdrawn, and for any other response_type, an error page and no redirect."""
    app = registry.add_public("Patient app (authorize)", [REDIRECT], ["patient/*.rs"])
    query = {"response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT, "scope": "patient/*.rs",
             "state": "xyz", "code_challenge": pkce()[1], "code_challenge_method": "S256"}

    def page(**changed) -> requests.Response:
        return requests.get(f"{origin}/oauth/authorize", params={**query, **changed}, allow_redirects=False)
    shown = page()
    assert shown.status_code == 200 and '<label for="password"' in shown.text, shown.text
    refused = page(response_type="token")
    assert refused.status_code == 400 and "Location" not in refused.headers
    assert '<label for="password"' not in refused.text
    for status in ("suspended", "withdrawn"):
        registry.set_status(app.client_id, status)
        refused = page()
        assert refused.status_code == 400 and "Location" not in refused.headers, status
        assert '<label for="password"' not in refused.text


def test_a_client_secret_authenticates_no_client(registry, origin):
    """No client has a secret: software signs assertions, patient apps use PKCE. A client id with a secret (HTTP
    Basic or in the form) gets no token, introspects and revokes nothing; and the client itself accepts no
    secret, for any authlib endpoint that asks it directly (RFC 7592's reads it without the method check)."""
    software = Vendor(registry, ["system/*.rs"])
    app = registry.add_public("Patient app (secret)", [REDIRECT], ["patient/*.rs"])
    basic = requests.auth.HTTPBasicAuth
    for client_id, grant in ((software.id, {"grant_type": "client_credentials", "scope": "system/*.rs"}),
                             (app.client_id, {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT,
                                              "code_verifier": "v" * 43})):
        for form, auth in (({"client_id": client_id, "client_secret": "s3cret"}, None),
                           ({}, basic(client_id, "s3cret"))):
            response = requests.post(f"{origin}/oauth/token", data={**grant, **form}, auth=auth)
            assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client", response.text
    token = token_request(origin, software.assertion(origin)).json()["access_token"]
    for endpoint in ("introspect", "revoke"):
        response = requests.post(f"{origin}/oauth/{endpoint}", data={"token": token}, auth=basic(software.id, "s3cret"))
        assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client", response.text
    assert introspect(origin, software, token)["active"] is True  # not revoked
    for client in (software.client, app, registry.get(software.id), registry.get(app.client_id)):
        assert not any(client.check_client_secret(secret) for secret in ("s3cret", "", client.client_id))


def test_registration_is_checked(registry):
    key = ECKey.generate_key("P-256", auto_kid=True)
    with pytest.raises(InvalidRegistration, match="private"):
        registry.add("Vendor", KeySet([key]).as_dict(private=True), ["system/*.rs"])
    with pytest.raises(InvalidRegistration, match="JWKS"):
        registry.add("Vendor", {"keys": []}, ["system/*.rs"])
    with pytest.raises(InvalidRegistration, match="SMART"):
        registry.add("Vendor", KeySet([key]).as_dict(private=False), ["everything"])


def test_generated_client_ids_never_read_as_an_option(registry, monkeypatch):
    drawn = iter(["-starts-with-a-dash", "_underscore", "Ab3-ok"])
    monkeypatch.setattr("fhir_server.auth.clients.secrets.token_urlsafe", lambda n: next(drawn))
    key = ECKey.generate_key("P-256", auto_kid=True)
    assert registry.add("Vendor", KeySet([key]).as_dict(private=False), ["system/*.rs"]).client_id == "Ab3-ok"


def test_clients_command(database, tmp_path):
    uri, name = database
    env = {**os.environ, "MONGODB_URI": uri, "FHIR_DATABASE": name}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(KeySet([ECKey.generate_key("P-384", auto_kid=True)]).as_dict(private=False)))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "fhir_server.cli", "clients", *args], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60)
    added = run("add", "--name", "Cabinet Médical Soft 4.2", "--jwks", str(jwks), "--scope", "system/*.rs",
                "--scope", "system/DocumentReference.c")
    assert added.returncode == 0, added.stderr
    client_id = json.loads(added.stdout)["client_id"]
    listed = run("list")
    assert f"{client_id}\treferenced\tCabinet Médical Soft 4.2\tsystem/*.rs system/DocumentReference.c" in listed.stdout
    assert run("suspend", client_id).returncode == 0
    assert f"{client_id}\tsuspended" in run("list").stdout
    assert run("reinstate", client_id).returncode == 0 and run("remove", client_id).returncode == 0
    assert f"{client_id}\twithdrawn" in run("list").stdout
    assert run("suspend", "no-such-client").returncode == 1
    jwks.write_text("{not json")
    refused = run("add", "--name", "X", "--jwks", str(jwks), "--scope", "system/*.rs")
    assert refused.returncode == 1 and "cannot register" in refused.stderr
    both = run("add", "--name", "X", "--jwks", str(jwks), "--generate-key", str(tmp_path / "keys"), "--scope", "s")
    assert both.returncode == 1 and "give one of --generate-key or --jwks" in both.stderr
    assert not (tmp_path / "keys").exists()
