"""The authorization server (authlib): SMART Backend Services tokens for referenced vendor software.

`POST /oauth/token` takes `grant_type=client_credentials` with a `private_key_jwt` client assertion
(RFC 7523, SMART Backend Services): a JWT signed with one of the client's registered keys, `iss` = `sub` =
client id, `aud` = the token endpoint, `exp` at most 5 minutes ahead and a `jti` never used before (replays
are refused: each `jti` is kept until its assertion expires). The assertion also names the professional the
software acts for, as France's record asks of practitioners' software:
- `practitioner`: their national identifier (RPPS / IDNPS, system `urn:oid:1.2.250.1.71.4.2.1`), required;
- `profession`: their profession code (TRE_G15-ProfessionSante, e.g. `10` physician, `21` pharmacist), required;
- `organization`: the organisation they work for, optional;
- `purpose_of_use`: `TREAT` (normal care, the default) or `ETREAT` (emergency, "break-glass").
The access token is a JWT (RFC 9068) signed with the server's key (keys.py), valid 5 minutes, carrying the
client, the granted SMART scopes (what was asked, narrowed to what the client may have) and those claims.
`POST /oauth/introspect` (RFC 7662) and `POST /oauth/revoke` (RFC 7009) take the same client assertion.
A token is active only while it has not expired, has not been revoked and its client is still referenced.
Introspection reads the revocations and the client's status from the database each time: exact. The check
on every FHIR request does not (recheck.py): it uses what this process read at most N seconds ago
(FHIR_TOKEN_RECHECK_SECONDS, 5 by default; 0 reads on every request). So a client suspended or withdrawn, or
a token revoked by another worker, is refused by every request made more than N seconds later; a token
revoked through this process's `/oauth/revoke` is refused by this process at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, ClientCredentialsGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask, Request, current_app
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pymongo.database import Database

from ..storage.auth import AssertionLog, AuthorizationCodes, ClientStore, Revocations
from .clients import AUTH_METHOD, ClientRegistry
from .keys import ALGORITHM, signing_keys
from .recheck import ReadEachTime, ReadEveryNSeconds

TOKEN_LIFETIME = 300
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
INS = "urn:oid:1.2.250.1.213.1.4.8"
PURPOSES = ("TREAT", "ETREAT")
ASSERTION_ALGORITHMS = ["RS384", "ES384", "RS256", "ES256", "PS384"]


@dataclass(frozen=True)
class Professional:
    """Who the software acts for, from its assertion; what the access rules will read from the token."""
    identifier: str
    profession: str
    organization: str | None
    purpose_of_use: str

    def get_user_id(self) -> str:
        return f"{RPPS}|{self.identifier}"

    def claims(self) -> dict:
        claims = {"practitioner": self.get_user_id(), "profession": self.profession,
                  "purpose_of_use": self.purpose_of_use}
        if self.organization:
            claims["organization"] = self.organization
        return claims


@dataclass(frozen=True)
class PatientUser:
    """A patient signed in (auth/patients.py), their token about their own record; or their legal
    representative (`representative`: the representative's INS) acting for a minor's record
    (auth/representatives.py)."""
    patient_id: str
    representative: str | None = None

    def get_user_id(self) -> str:
        return f"{INS}|{self.representative}" if self.representative else f"Patient/{self.patient_id}"

    def claims(self) -> dict:
        claims = {"patient": self.patient_id}
        if self.representative:
            claims["representative"] = self.representative
        return claims


def origin() -> str:
    """The server's public origin (config.Settings.origin): what assertions must name in `aud` and tokens
    name in `iss`. From the configuration only: a Host header chosen by the client decides nothing."""
    return current_app.extensions["fhir"].settings.origin


class PublicRequest(FlaskOAuth2Request):
    """authlib's view of the request, at the URL clients use (the public origin): its https-only check then
    holds for the transport clients see (TLS ended by a proxy counts), whatever Host the request carried."""

    def __init__(self, incoming: Request) -> None:
        OAuth2Request.__init__(self, incoming.method, origin() + incoming.full_path.rstrip("?"),
                               headers=incoming.headers)
        self._request = incoming
        self.payload = FlaskOAuth2Payload(incoming)


class Authorization(AuthorizationServer):
    """authlib's Flask authorization server, seeing requests at their public URL (PublicRequest)."""

    def create_oauth2_request(self, request: object) -> PublicRequest:
        return PublicRequest(flask_request)  # as authlib's: the request being handled, whatever it is given


class Assertion(JWTBearerClientAssertion):
    """private_key_jwt client authentication, with replay protection and the professional's claims."""

    CLIENT_AUTH_METHOD = AUTH_METHOD

    def __init__(self, db: Database) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.used = AssertionLog(db)

    def __call__(self, query_client, oauth_request):
        client = super().__call__(query_client, oauth_request)
        if client is not None:
            _, oauth_request.assertion_claims = self.extract_assertion(oauth_request.form["client_assertion"])
        return client

    def process_assertion_claims(self, assertion, resolve_key):
        """As authlib does, with the algorithms SMART Backend Services names (RS384, ES384) allowed."""
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except JoseError as e:
            raise InvalidClientError(description=e.description) from e
        self.verify_claims(token.claims)
        return token.claims

    def get_audiences(self) -> list[str]:
        return [f"{origin()}/oauth/token"]

    def resolve_client_public_key(self, client):
        keys = client.public_keys()
        if keys is None:
            raise InvalidClientError(description="This client signs in patients; it has no keys to sign with")
        return keys

    def validate_jti(self, claims: dict, jti: object) -> bool:
        expires = datetime.fromtimestamp(claims["exp"], timezone.utc)
        if not isinstance(jti, str) or expires - datetime.now(timezone.utc) > MAX_ASSERTION_LIFETIME:
            return False
        return self.used.use_once(f"{claims['sub']}:{jti}", expires)


def _professional(claims: dict) -> Professional:
    practitioner, profession = claims.get("practitioner"), claims.get("profession")
    purpose = claims.get("purpose_of_use", "TREAT")
    if not isinstance(practitioner, str) or not practitioner or not isinstance(profession, str) or not profession:
        raise InvalidRequestError(description="The assertion must name the professional the software acts for: "
                                              "'practitioner' (RPPS) and 'profession' claims")
    if purpose not in PURPOSES:
        raise InvalidRequestError(description=f"'purpose_of_use' is one of {', '.join(PURPOSES)}")
    organization = claims.get("organization")
    practitioner = practitioner.removeprefix(f"{RPPS}|")
    return Professional(practitioner, profession, organization if isinstance(organization, str) else None, purpose)


class BackendServices(ClientCredentialsGrant):
    """client_credentials for software acting for a professional: the token is about that professional."""

    TOKEN_ENDPOINT_AUTH_METHODS = [AUTH_METHOD]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if not self.request.client.get_allowed_scope(self.request.payload.scope):
            raise InvalidScopeError(description="None of the requested scopes is allowed to this client")

    def create_token_response(self):
        professional = _professional(self.request.assertion_claims)
        token = self.generate_token(user=professional, scope=self.request.payload.scope, include_refresh_token=False)
        return 200, token, self.TOKEN_RESPONSE_HEADER


@dataclass
class IssuedCode(AuthorizationCodeMixin):
    """A stored authorization code, as authlib's grant reads it (PKCE's challenge included)."""
    doc: dict

    def get_redirect_uri(self) -> str:
        return self.doc["redirect_uri"]

    def get_scope(self) -> str:
        return self.doc["scope"]

    @property
    def code_challenge(self) -> str | None:
        return self.doc.get("code_challenge")

    @property
    def code_challenge_method(self) -> str | None:
        return self.doc.get("code_challenge_method")


class PatientSignIn(AuthorizationCodeGrant):
    """The authorization code grant for patient apps (public clients, PKCE S256 required): a code lives
    one minute and is exchanged once; the token is about the signed-in patient's record."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    CODE_LIFETIME = timedelta(minutes=1)

    def save_authorization_code(self, code: str, request) -> None:
        AuthorizationCodes(self.server.db).save(code, {
            "client_id": request.client.get_client_id(), "redirect_uri": request.payload.redirect_uri,
            "scope": request.client.get_allowed_scope(request.payload.scope), "patient": request.user.patient_id,
            "representative": request.user.representative,
            "code_challenge": request.payload.data.get("code_challenge"),
            "code_challenge_method": request.payload.data.get("code_challenge_method"),
            "expires": datetime.now(timezone.utc) + self.CODE_LIFETIME})

    def query_authorization_code(self, code: str, client) -> IssuedCode | None:
        doc = AuthorizationCodes(self.server.db).get(code)
        if not doc or doc["client_id"] != client.get_client_id() or doc["expires"] < datetime.now(timezone.utc):
            return None
        if not AuthorizationCodes(self.server.db).use(code):
            return None  # exchanged already
        return IssuedCode(doc)

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        pass  # used up when queried (AuthorizationCodes.use)

    def authenticate_user(self, authorization_code: IssuedCode) -> PatientUser:
        return PatientUser(authorization_code.doc["patient"], authorization_code.doc.get("representative"))

    def create_token_response(self):
        status, token, headers = super().create_token_response()
        return status, {**token, "patient": self.request.user.patient_id}, headers


class S256Only(CodeChallenge):
    """PKCE as SMART requires it: S256 only, never `plain`."""
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]


class AccessTokens(JWTBearerTokenGenerator):
    def __init__(self, keys: KeySet) -> None:
        super().__init__(issuer="", alg=ALGORITHM, expires_generator=lambda client, grant_type: TOKEN_LIFETIME)
        self.keys = keys

    def get_jwks(self) -> KeySet:
        return self.keys

    def get_audiences(self, client, user, scope) -> str:
        return f"{origin()}/fhir"

    def get_extra_claims(self, client, grant_type, user, scope) -> dict:
        return user.claims() if isinstance(user, (Professional, PatientUser)) else {}

    def access_token_generator(self, client, grant_type, user, scope):
        self.issuer = origin()
        return super().access_token_generator(client, grant_type, user, scope)


class TokenChecks:
    """What introspection and the resource server check of a token beyond its signature: introspection
    exactly, the resource server as of at most `recheck_seconds` ago (see the module docstring)."""

    def __init__(self, db: Database, keys: KeySet, recheck_seconds: int) -> None:
        self.keys, self.revocations, clients = keys, Revocations(db), ClientStore(db)
        self.exact = ReadEachTime(clients, self.revocations)
        self.recent = ReadEveryNSeconds(clients, self.revocations, recheck_seconds) if recheck_seconds else self.exact

    def claims(self, token: str, exact: bool = False) -> dict | None:
        """The claims of an active access token, else None (bad signature, expired, revoked, client no longer
        referenced); `exact` reads the revocations and the client's status now rather than as of N seconds."""
        try:
            decoded = jwt.decode(token, self.keys, algorithms=[ALGORITHM])
            jwt.JWTClaimsRegistry(exp={"essential": True}, jti={"essential": True},
                                  iss={"essential": True, "value": origin()}).validate(decoded.claims)
        except (JoseError, ValueError, TypeError):
            return None
        claims, states = decoded.claims, self.exact if exact else self.recent
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or states.is_revoked(claims["jti"]):
            return None
        return claims if states.is_referenced(client_id) else None

    def revoke(self, claims: dict) -> None:
        self.revocations.revoke(claims["jti"], datetime.fromtimestamp(claims["exp"], timezone.utc))
        self.recent.revoked_here(claims["jti"])


@dataclass
class IssuedToken:
    """An active access token's claims, as authlib's endpoints handle tokens."""
    claims: dict

    def is_expired(self) -> bool:
        return False  # TokenChecks.claims gives only active tokens

    def is_revoked(self) -> bool:
        return False

    def check_client(self, client) -> bool:
        return self.claims.get("client_id") == client.get_client_id()


class _TokenLookup:
    """What introspection and revocation share: client authentication by assertion, active tokens only."""

    CLIENT_AUTH_METHODS = [AUTH_METHOD]

    def __init__(self, checks: TokenChecks) -> None:
        super().__init__()
        self.checks = checks

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        claims = self.checks.claims(token_string, exact=True)
        return IssuedToken(claims) if claims else None


class Introspection(_TokenLookup, IntrospectionEndpoint):
    def check_permission(self, token: IssuedToken, client, request) -> bool:
        return True  # any referenced client may ask; a token it did not get shows as it is

    def introspect_token(self, token: IssuedToken) -> dict:
        return {"active": True, "token_type": "Bearer", **token.claims}


class Revocation(_TokenLookup, RevocationEndpoint):
    def revoke_token(self, token: IssuedToken, request) -> None:
        self.checks.revoke(token.claims)


def authorization_server(app: Flask, db: Database, recheck_seconds: int) -> tuple[AuthorizationServer, TokenChecks]:
    """The authlib authorization server of `app`, and the token checks the resource server uses (revocations
    and clients' statuses read at most `recheck_seconds` ago, FHIR_TOKEN_RECHECK_SECONDS)."""
    registry = ClientRegistry(db)
    server = Authorization(app, query_client=registry.get, save_token=lambda token, oauth_request: None)
    server.db = db
    server.register_client_auth_method(AUTH_METHOD, Assertion(db))
    server.register_grant(BackendServices)
    server.register_grant(PatientSignIn, [S256Only(required=True)])
    keys = signing_keys(db)  # read once: the key never changes once the first worker has stored it
    server.register_token_generator("default", AccessTokens(keys))
    checks = TokenChecks(db, keys, recheck_seconds)
    server.register_endpoint(Introspection(checks))
    server.register_endpoint(Revocation(checks))
    return server, checks
