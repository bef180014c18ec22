"""Every FHIR and XDS request but the CapabilityStatement needs an access token whose scopes allow it.

The token (auth/server.py) must be active: signed by this server, not expired, not revoked, and its client
still referenced (revocations and clients' statuses as this process read them at most
FHIR_TOKEN_RECHECK_SECONDS ago); otherwise 401 with a `WWW-Authenticate: Bearer` challenge. What it must
then allow is the
route's declaration (api/routes.py, next to each view): its SMART scopes must hold the route's permissions on
the resource type (auth/scopes.py), else 403: create `c`, read and vread `r`, update and patch `u`, delete
`d`, search `s`; conditional interactions also need `s` (they search); instance history and `$everything`
read (`r`), type history searches (`s`). Each entry of a Bundle is checked the same way (service/bundles.py),
chained and `_has` criteria need `s` on the types they search, and resources of types the token cannot read
are left out of `_include`, `_revinclude` and `$everything`. A route without a declaration is refused to
every caller: a new route must say what it needs. A patient's token (`patient` claim, `patient/` scopes)
reaches their own record only, through the routes declaring a `Reach`: see `_patient_request`. The caller
(client, professional, profession, purpose of use, or patient) is `g.caller`, and the record's rules for this
caller (access/policy.py: consents, labels, profession) are set for the request here and applied by the
service layer.
"""
from __future__ import annotations

from flask import current_app, g, request

from ..access.policy import RecordAccess
from ..audit.events import Actor
from ..auth.representatives import still_represents
from ..auth.scopes import Grants
from ..errors import Forbidden, Unauthorized
from ..registry import RESOURCES
from . import routes
from .routes import Reach, Route

# What a patient may write in their own record (adding documents, as France's record lets them).
PATIENT_WRITABLE = ("DocumentReference", "List", "Binary", "Consent")
# Types a patient may search, each restricted to their record by its `patient` parameter (`_id` for Patient).
PATIENT_SEARCHES = ("Patient", "DocumentReference", "List", "Consent", "AuditEvent", "RelatedPerson")


def authorize() -> None:
    """The FHIR and XDS blueprints' before-request check (see the module docstring)."""
    route = routes.current()
    if route is not None and route.public:
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
    g.rules = RecordAccess(services.store, services.resources.records, actor(claims), services.resources.notify,
                           base=services.settings.fhir_base)  # the caller's rules, given to every service call
    patient = claims.get("patient")
    g.grants = Grants(str(claims.get("scope", "")).split(), patient_context=bool(patient))
    if route is None:
        raise Forbidden(f"No access rule covers {request.method} {request.path}")
    if patient:
        representative = claims.get("representative")
        if representative and not still_represents(current_app.extensions["fhir"].store, str(representative),
                                                   str(patient)):
            raise Forbidden("The right to act for this record has ended (the patient is of age, or the "
                            "representation was withdrawn)")
        return _patient_request(str(patient), route)
    if route.owner_only:
        raise Forbidden(f"No access rule covers {request.method} {request.path}")
    needs = route.needs
    if route.interaction == "create" and "If-None-Exist" in request.headers:
        needs += "s"
    _require_declared(route, needs)


def _require_declared(route: Route, needs: str) -> None:
    """Raises Forbidden unless the caller's scopes allow `needs` on each type the route's permissions apply
    to: its declared ones, else the URL's (a type this server does not serve is answered further on)."""
    if needs:
        for resource_type in _resource_types(route):
            if resource_type in RESOURCES:
                require(resource_type, needs)


def _resource_types(route: Route) -> tuple[str, ...]:
    return route.resource_types or ((request.view_args or {}).get("resource_type", ""),)


def _patient_request(patient_id: str, route: Route) -> None:
    """A patient's own token (with `patient/` scopes allowing it) reaches their record only, as the route's
    `Reach` says: their record as a whole (`$everything`, the decisions on it) when it is theirs; their
    Patient and the resources of their compartment by id (others answer 404: their existence is not
    revealed); searches restricted to their record (rest.py adds the criterion; `_include`/`_revinclude`
    refused); creating, updating or deleting the types they write, in their record."""
    args = request.view_args or {}
    resource_type = _resource_types(route)[0]
    if route.patient is Reach.RECORD:
        if args.get("patient_id") != patient_id:
            raise Forbidden("A patient's token reaches their own record only")
        return _require_declared(route, route.needs)
    if route.patient is Reach.BY_ID and resource_type in RESOURCES:
        require(resource_type, route.needs)
        if resource_type == "Patient" and args.get("resource_id") != patient_id:
            raise Forbidden("A patient's token reaches their own record only")
        return None  # access/policy.py answers 404 for what is not in their record
    if route.patient is Reach.WRITES and resource_type in PATIENT_WRITABLE:
        require(resource_type, route.needs)
        if "If-None-Exist" in request.headers:  # its search would reach other records
            raise Forbidden("A patient's token cannot make conditional creates")
        return None  # access/policy.py keeps what they write in their record
    if route.patient is Reach.SEARCHES and resource_type in PATIENT_SEARCHES:
        require(resource_type, route.needs)
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
