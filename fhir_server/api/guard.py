"""Every FHIR request but the CapabilityStatement needs an access token whose scopes allow it.

The token (auth/server.py) must be active: signed by this server, not expired, not revoked, and its client
still referenced; otherwise 401 with a `WWW-Authenticate: Bearer` challenge. Its SMART scopes must then
allow the interaction on the resource type (auth/scopes.py), else 403: create `c`, read and vread `r`,
update and patch `u`, delete `d`, search `s`; conditional interactions also need `s` (they search);
instance history and `$everything` read (`r`), type history searches (`s`). Each entry of a Bundle is
checked the same way (service/bundles.py), chained and `_has` criteria need `s` on the types they search,
and resources of types the token cannot read are left out of `_include`, `_revinclude` and `$everything`. Routes not listed here are refused: a new route must say
what it needs. A patient's token (`patient` claim, `patient/` scopes) reaches their own record only: see
`_patient_request`. The caller (client, professional, profession, purpose of
use, or patient) is `g.caller`.
"""
from __future__ import annotations

from flask import current_app, g, request

from ..auth.representatives import still_represents
from ..auth.scopes import Grants
from ..errors import Forbidden, NotFound, Unauthorized
from ..registry import RESOURCES
from ..service.compartment import in_compartment, refers_to_patient

PUBLIC = {"fhir.metadata", "oauth.smart_configuration"}
# What a patient may write in their own record (adding documents, as France's record lets them).
PATIENT_WRITES = {"fhir.create": "c", "fhir.update": "u", "fhir.delete": "d"}
PATIENT_WRITABLE = ("DocumentReference", "List", "Binary")
# Types a patient may search, each restricted to their record by its `patient` parameter (`_id` for Patient).
PATIENT_SEARCHES = ("Patient", "DocumentReference", "List", "Consent", "AuditEvent", "RelatedPerson")
NEEDS = {
    "fhir.create": "c", "fhir.search": "s", "fhir.search_by_post": "s", "fhir.conditional_update": "us",
    "fhir.conditional_delete": "ds", "fhir.read": "r", "fhir.vread": "r", "fhir.update": "u", "fhir.patch": "u",
    "fhir.delete": "d", "fhir.type_history": "s", "fhir.instance_history": "r", "fhir.everything": "r",
    "fhir.validate_type": "", "fhir.validate_instance": "r", "fhir.bundle": "",  # bundle: per entry
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
    if endpoint == "fhir.everything":
        if args.get("patient_id") != patient_id:
            raise Forbidden("A patient's token reaches their own record only")
        return require("Patient", "r")
    resource_type = args.get("resource_type")
    if endpoint in ("fhir.read", "fhir.vread", "fhir.instance_history") and resource_type in RESOURCES:
        require(resource_type, "r")
        if resource_type == "Patient":
            if args.get("resource_id") != patient_id:
                raise Forbidden("A patient's token reaches their own record only")
            return None
        return _in_record_or_unknown(resource_type, args.get("resource_id", ""), patient_id)
    if endpoint in PATIENT_WRITES and resource_type in PATIENT_WRITABLE:
        require(resource_type, PATIENT_WRITES[endpoint])
        if "If-None-Exist" in request.headers:  # its search would reach other records
            raise Forbidden("A patient's token cannot make conditional creates")
        if endpoint != "fhir.create":
            _in_record_or_unknown(resource_type, args.get("resource_id", ""), patient_id)
        return None  # rest.py checks that what is written stays in their record (check_patient_write)
    if endpoint in ("fhir.search", "fhir.search_by_post") and resource_type in PATIENT_SEARCHES:
        require(resource_type, "s")
        if any(name.partition(":")[0] in ("_include", "_revinclude") for name in request.values):
            raise Forbidden("_include and _revinclude are not available to a patient's token")
        return None
    raise Forbidden("A patient's token reads their own record: this interaction is not available to it")


def _in_record_or_unknown(resource_type: str, resource_id: str, patient_id: str) -> None:
    """NotFound for a resource of another record: its existence is not revealed."""
    store = current_app.extensions["fhir"].store
    current = store.current(resource_type, resource_id)
    if current is not None and not current.deleted and not in_compartment(store, current, patient_id):
        raise NotFound(f"{resource_type}/{resource_id} is not known")


def check_patient_write(resource_type: str, resource: object) -> None:
    """A patient's token writes in their own record only: what they write must name them (a Binary is
    theirs once one of their documents points at it)."""
    patient = _patient()
    if not patient or resource_type == "Binary" or not isinstance(resource, dict):
        return
    if not refers_to_patient(resource_type, resource, patient):
        raise Forbidden(f"A patient writes in their own record only: this {resource_type} does not name them")


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
