"""Every FHIR request but the CapabilityStatement needs an access token whose scopes allow it.

The token (auth/server.py) must be active: signed by this server, not expired, not revoked, and its client
still referenced; otherwise 401 with a `WWW-Authenticate: Bearer` challenge. Its SMART scopes must then
allow the interaction on the resource type (auth/scopes.py), else 403: create `c`, read and vread `r`,
update and patch `u`, delete `d`, search `s`; conditional interactions also need `s` (they search);
instance history and `$everything` read (`r`), type history searches (`s`). Each entry of a Bundle is
checked the same way (service/bundles.py), chained and `_has` criteria need `s` on the types they search,
and resources of types the token cannot read are left out of `_include`, `_revinclude` and `$everything`. Routes not listed here are refused: a new route must say
what it needs. A patient's token (`patient` claim, `patient/` scopes) reaches their own record only: see
`_patient_request`. The caller (client, professional, profession, purpose of use, or patient) is `g.caller`,
and the record's rules for this caller (access/policy.py: consents, labels, profession) are set for the
request here and applied by the service layer.
"""
from __future__ import annotations

from flask import current_app, g, request

from .. import access
from ..access.policy import RecordAccess
from ..audit.events import Actor
from ..auth.representatives import still_represents
from ..auth.scopes import Grants
from ..errors import Forbidden, Unauthorized
from ..registry import RESOURCES

PUBLIC = {"fhir.metadata", "oauth.smart_configuration"}
# What a patient may write in their own record (adding documents, as France's record lets them).
PATIENT_WRITES = {"fhir.create": "c", "fhir.update": "u", "fhir.patch": "u", "fhir.delete": "d"}
PATIENT_WRITABLE = ("DocumentReference", "List", "Binary", "Consent")
# Types a patient may search, each restricted to their record by its `patient` parameter (`_id` for Patient).
# Decisions on the record itself, the owner's alone (a professional's token has no rule for them: 403).
RECORD_DECISIONS = ("fhir.close_record", "fhir.reopen_record", "fhir.delete_record")
PATIENT_SEARCHES = ("Patient", "DocumentReference", "List", "Consent", "AuditEvent", "RelatedPerson")
NEEDS = {
    "fhir.create": "c", "fhir.search": "s", "fhir.search_by_post": "s", "fhir.conditional_update": "us",
    "fhir.conditional_delete": "ds", "fhir.read": "r", "fhir.vread": "r", "fhir.update": "u", "fhir.patch": "u",
    "fhir.delete": "d", "fhir.type_history": "s", "fhir.instance_history": "r", "fhir.everything": "r",
    "fhir.validate_type": "", "fhir.validate_instance": "r", "fhir.bundle": "", "fhir.ingest": "",  # per entry
    "xds.registry": "", "xds.repository": "",  # checked by the routes (api/xds.py)
}


def authorize() -> None:
    """The FHIR blueprint's before-request check (see the module docstring)."""
    if request.endpoint in PUBLIC:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("This server needs an access token: Authorization: Bearer <token> (see "
                           "/.well-known/smart-configuration)")
    claims = current_app.extensions["fhir"].tokens.claims(token.strip())
    if claims is None:
        raise Unauthorized("The access token is not valid: expired, revoked, not ours, or its client is "
                           "no longer referenced", error="invalid_token")
    g.caller = claims
    services = current_app.extensions["fhir"]
    configured = services.settings.base_url
    base = configured.rstrip("/") if configured else request.host_url.rstrip("/") + "/fhir"
    g.access = access.use(RecordAccess(services.store, services.resources.records, actor(claims),
                                       services.resources.notify, base=base))
    patient = claims.get("patient")
    g.grants = Grants(str(claims.get("scope", "")).split(), patient_context=bool(patient))
    if patient:
        representative = claims.get("representative")
        if representative and not still_represents(current_app.extensions["fhir"].store, str(representative),
                                                   str(patient)):
            raise Forbidden("The right to act for this record has ended (the patient is of age, or the "
                            "representation was withdrawn)")
        return _patient_request(str(patient))
    if request.endpoint not in NEEDS:
        raise Forbidden(f"No access rule covers {request.method} {request.path}")
    resource_type = "Patient" if request.endpoint == "fhir.everything" else (request.view_args or {}).get(
        "resource_type")
    needs = NEEDS[request.endpoint]
    if request.endpoint == "fhir.create" and "If-None-Exist" in request.headers:
        needs += "s"
    if needs and resource_type in RESOURCES:
        require(resource_type, needs)


def _patient_request(patient_id: str) -> None:
    """A patient's own token (with `patient/` scopes allowing it) reaches their record only: their Patient,
    the resources of their compartment by id (others answer 404: their existence is not revealed), searches
    restricted to their record (rest.py adds the criterion; `_include`/`_revinclude` refused), `$everything`
    of their record, and creating, updating or deleting DocumentReference, List and Binary in it."""
    args = request.view_args or {}
    endpoint = request.endpoint
    if endpoint == "fhir.everything" or endpoint in RECORD_DECISIONS:
        if args.get("patient_id") != patient_id:
            raise Forbidden("A patient's token reaches their own record only")
        return require("Patient", "u" if endpoint in RECORD_DECISIONS else "r")
    resource_type = args.get("resource_type")
    if endpoint in ("fhir.read", "fhir.vread", "fhir.instance_history") and resource_type in RESOURCES:
        require(resource_type, "r")
        if resource_type == "Patient":
            if args.get("resource_id") != patient_id:
                raise Forbidden("A patient's token reaches their own record only")
            return None
        return None  # access/policy.py answers 404 for what is not in their record
    if endpoint in PATIENT_WRITES and resource_type in PATIENT_WRITABLE:
        require(resource_type, PATIENT_WRITES[endpoint])
        if "If-None-Exist" in request.headers:  # its search would reach other records
            raise Forbidden("A patient's token cannot make conditional creates")
        return None  # access/policy.py keeps what they write in their record
    if endpoint in ("fhir.search", "fhir.search_by_post") and resource_type in PATIENT_SEARCHES:
        require(resource_type, "s")
        if any(name.partition(":")[0] in ("_include", "_revinclude") for name in request.values):
            raise Forbidden("_include and _revinclude are not available to a patient's token")
        return None
    raise Forbidden("A patient's token reads their own record: this interaction is not available to it")


def actor(claims: dict) -> Actor:
    """Who calls, from their access token's claims, for the access rules and the audit trail."""
    patient, representative = claims.get("patient"), claims.get("representative")
    kind = ("representative" if representative else "patient") if patient else "professional"
    return Actor(kind=kind, client_id=claims.get("client_id"), practitioner=claims.get("practitioner"),
                 profession=claims.get("profession"), organization=claims.get("organization"),
                 patient=str(patient) if patient else None,
                 representative=str(representative) if representative else None, address=request.remote_addr,
                 purpose_of_use=claims.get("purpose_of_use"))


def release(_error: BaseException | None = None) -> None:
    """After each request: its access rules are forgotten (a worker thread serves other callers next)."""
    token = g.pop("access", None)
    if token is not None:
        access.done(token)


def patient_criterion(resource_type: str) -> list[tuple[str, str]]:
    """The criterion a patient's search is restricted by (ANDed with theirs), none for other callers."""
    patient = _patient()
    if not patient:
        return []
    return [("_id", patient)] if resource_type == "Patient" else [("patient", f"Patient/{patient}")]


def _patient() -> str | None:
    """The Patient id a patient's (or their representative's) token is about; None for software."""
    patient = (g.get("caller") or {}).get("patient")
    return str(patient) if patient else None


def require(resource_type: str, permissions: str) -> None:
    """Raises Forbidden unless the caller's scopes allow `permissions` on `resource_type`."""
    if not g.grants.allows(resource_type, permissions):
        raise Forbidden(f"The access token's scopes do not allow '{permissions}' on {resource_type}",
                        code="forbidden")


def can_read(resource_type: str) -> bool:
    return g.grants.allows(resource_type, "r")
