"""The FHIR REST routes under /fhir: parse the request, call a service, render the result."""
from __future__ import annotations

import re
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, g, request

from ..capability import capability_statement
from ..errors import BadRequest, NotAcceptable, UnsupportedMediaType, information
from ..service.bundles import create as create_resource, process_bundle
from ..service.everything import everything_bundle
from ..service.history import history_bundle
from ..service.export import mdm_message
from ..service.ingest import HL7_V2, ingest
from ..service.checks import check_type
from ..service.resources import ResourceService, WriteResult
from ..service.search import SearchContext, search_bundle
from ..service.validate import check_validated_type, validate_operation
from ..storage.resources import StoredVersion
from . import audit_trail, guard
from .routes import Reach, Route
from .negotiation import (accepts_media_type, body_format, parse_body, render, response_format, version_headers,
                          wants_fhir_format)

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
bp.before_request(guard.authorize)
bp.after_request(audit_trail.record)
RAW_CONTENT_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+( ?;[ \w.+=\"-]*)*")


def _service() -> ResourceService:
    """The resource service acting for this request's caller (their rules, set by api/guard.py)."""
    return current_app.extensions["fhir"].resources.acting_for(g.rules)


def base_url() -> str:
    """The FHIR base clients use (config.Settings.fhir_base), never one made of the request's Host header:
    `Location`, `fullUrl` and the paging links clients follow with their token point at this server."""
    return current_app.extensions["fhir"].settings.fhir_base


def _reply(payload: dict | None, status: int = 200, headers: dict | None = None) -> Response:
    return render(payload, response_format(request), status, headers, pretty=request.args.get("_pretty") == "true")


def _prefer_return() -> str:
    """The `return` preference of the Prefer header: minimal, representation or OperationOutcome."""
    for token in request.headers.get("Prefer", "").split(","):
        name, _, value = token.strip().partition("=")
        if name.strip() == "return":
            return value.strip().strip('"')
    return "representation"


def _write_reply(result: WriteResult, outcome: str) -> Response:
    version = result.version
    headers = version_headers(version, base_url())
    status = 201 if result.created else 200
    preference = _prefer_return()
    if preference == "minimal":
        return _reply(None, status, headers)
    if preference == "OperationOutcome":
        return _reply(information(outcome), status, headers)
    return _reply(_service().full_resource(version), status, headers)


def _incoming(resource_type: str) -> tuple[object, bytes | None]:
    """The resource in the body; raw bytes for a Binary sent in its own format."""
    if resource_type == "Binary" and request.mimetype and body_format(request) is None:
        resource = {"resourceType": "Binary", "contentType": request.mimetype}
        context = request.headers.get("X-Security-Context")
        if context:
            resource["securityContext"] = {"reference": context}
        return resource, request.get_data(cache=False)
    return parse_body(request), None


@bp.post("")
@bp.post("/")
@Route("batch")  # each entry is checked as its own request (service/bundles.py)
def bundle() -> Response:
    """POST [base]: a batch or transaction Bundle (service/bundles.py)."""
    services = current_app.extensions["fhir"]
    body = parse_body(request)
    g.bundle_type = body.get("type") if isinstance(body, dict) and body.get("type") in ("batch", "transaction") else None
    response = process_bundle(_service(), services.transactions, body, base_url(), _read_entry,
                              services.settings.bundle_max_entries, guard.require)
    return _reply(response)


@bp.post("/$ingest", endpoint="ingest")
@Route("operation", operation="ingest")  # checked per entry, as a transaction
def ingest_route() -> Response:
    """A push in the sender's own format (service/ingest.py), answered in that format."""
    services = current_app.extensions["fhir"]

    def transact(bundle: dict) -> dict:
        if not isinstance(bundle, dict) or bundle.get("type") != "transaction":
            raise BadRequest("$ingest stores one transaction: a FHIR Bundle sent to it must be of type transaction")
        return process_bundle(_service(), services.transactions, bundle, base_url(), _read_entry,
                              services.settings.bundle_max_entries, guard.require)
    body, content_type, status = ingest(request.get_data(), request.content_type or "", transact, services.store,
                                        g.rules)
    return Response(body, status, content_type=content_type)


def _read_entry(url: str) -> dict:
    """What a GET entry of a Bundle reads: `metadata`, a search, a read, a vread or a history."""
    path, _, query = url.partition("?")
    parts = path.strip("/").split("/")
    items = parse_qsl(query, keep_blank_values=True)
    settings = current_app.extensions["fhir"].settings
    if parts == ["metadata"]:
        return capability_statement()
    if len(parts) == 1:
        return search_bundle(_search_context(), parts[0], items, strict=False)
    if len(parts) == 2 and parts[1] != "_history":
        return _service().full_resource(_service().read(parts[0], parts[1]))
    if len(parts) == 4 and parts[2] == "_history":
        return _service().full_resource(_service().vread(parts[0], parts[1], parts[3]))
    if parts[-1] == "_history" and len(parts) in (2, 3):
        return history_bundle(_service().store, g.rules, base_url(), parts[0], parts[1] if len(parts) == 3 else None,
                              dict(items), settings.history_page_size, settings.history_page_max,
                              _service().full_resource)
    raise BadRequest(f"A Bundle entry cannot GET {url!r}")


@bp.get("/metadata")
@Route("capabilities", public=True)
def metadata() -> Response:
    return _reply(capability_statement())


@bp.post("/<resource_type>")
@Route("create", needs="c", patient=Reach.WRITES)  # `s` too with If-None-Exist (api/guard.py)
def create(resource_type: str) -> Response:
    check_type(resource_type, "create")
    resource, content = _incoming(resource_type)
    result = create_resource(_service(), current_app.extensions["fhir"].transactions, resource_type, resource,
                             request.headers.get("If-None-Exist"), content, guard.require)
    if not result.changed:
        headers = version_headers(result.version, base_url())
        return _reply(_service().full_resource(result.version) if _prefer_return() != "minimal" else None,
                      200, headers)
    return _write_reply(result, f"Created {resource_type}/{result.version.id}")


@bp.get("/<resource_type>")
@Route("search-type", needs="s", patient=Reach.SEARCHES)
def search(resource_type: str) -> Response:
    return _search(resource_type, list(request.args.items(multi=True)))


@bp.post("/<resource_type>/_search")
@Route("search-type", needs="s", patient=Reach.SEARCHES)
def search_by_post(resource_type: str) -> Response:
    """POST [type]/_search: parameters in an application/x-www-form-urlencoded body (and the URL)."""
    check_type(resource_type, "search-type")
    if request.mimetype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded parameters")
    return _search(resource_type, [*request.args.items(multi=True), *request.form.items(multi=True)])


def _search(resource_type: str, items: list[tuple[str, str]]) -> Response:
    strict = "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")
    items = [(k, v) for k, v in items if k not in ("_format", "_pretty")]
    if not any(k == "_getpages" for k, _ in items):  # a kept page: its search was restricted, and is the caller's
        items += guard.patient_criterion(resource_type)
    return _reply(search_bundle(_search_context(), resource_type, items, strict))


def _search_context() -> SearchContext:
    services = current_app.extensions["fhir"]
    settings = services.settings
    return SearchContext(services.store, services.pages, base_url(), settings.search_page_size,
                         settings.search_page_max, settings.search_max_results, _service().full_resource,
                         rules=g.rules, can_read=guard.can_read, permit=guard.require)


@bp.put("/<resource_type>")
@Route("update", needs="us")
def conditional_update(resource_type: str) -> Response:
    check_type(resource_type, "update")
    criteria = _criteria()
    resource, _ = _incoming(resource_type)
    result = _service().conditional_update(resource_type, criteria, resource, request.headers.get("If-Match"))
    return _write_reply(result, f"Updated {resource_type}/{result.version.id}")


@bp.delete("/<resource_type>")
@Route("delete", needs="ds")
def conditional_delete(resource_type: str) -> Response:
    version, outcome = _service().conditional_delete(resource_type, _criteria())
    return _reply(outcome, 200, {"ETag": f'W/"{version.version}"'} if version else {})


def _criteria() -> str:
    criteria = request.query_string.decode("utf-8", "replace")
    if not criteria:
        raise BadRequest("A conditional update or delete needs search criteria in the URL")
    return criteria


@bp.get("/<resource_type>/<resource_id>")
@Route("read", needs="r", patient=Reach.BY_ID)
def read(resource_type: str, resource_id: str) -> Response:
    if resource_type == "DocumentReference" and HL7_V2 in request.headers.get("Accept", ""):
        return Response(mdm_message(_service(), resource_id), 200, content_type=HL7_V2)
    version = _service().read(resource_type, resource_id)
    if _not_modified(version):
        return Response(status=304, headers=version_headers(version))
    return _read_reply(version)


def _not_modified(version: StoredVersion) -> bool:
    """Conditional read (R4 http.html#cread): If-None-Match on the ETag, or If-Modified-Since."""
    if "If-None-Match" in request.headers:
        tags = {tag.strip() for tag in request.headers["If-None-Match"].split(",")}
        return "*" in tags or bool(tags & {f'W/"{version.version}"', f'"{version.version}"'})
    since = request.if_modified_since
    return since is not None and version.last_updated.replace(microsecond=0) <= since


@bp.get("/<resource_type>/<resource_id>/_history/<version_id>")
@Route("vread", needs="r", patient=Reach.BY_ID)
def vread(resource_type: str, resource_id: str, version_id: str) -> Response:
    return _read_reply(_service().vread(resource_type, resource_id, version_id))


def _read_reply(version: StoredVersion) -> Response:
    headers = version_headers(version)
    if version.type == "Binary" and not wants_fhir_format(request):
        content_type = (version.resource or {}).get("contentType") or ""
        if not RAW_CONTENT_TYPE.fullmatch(content_type):
            content_type = "application/octet-stream"
        if not accepts_media_type(request, content_type):
            raise NotAcceptable(f"Binary/{version.id} is {content_type}; ask for it (or */*), or for a FHIR format")
        return Response(_service().content(version), 200, headers=headers, content_type=content_type)
    return _reply(_service().full_resource(version), 200, headers)


@bp.put("/<resource_type>/<resource_id>")
@Route("update", needs="u", patient=Reach.WRITES)
def update(resource_type: str, resource_id: str) -> Response:
    check_type(resource_type, "update")
    resource, content = _incoming(resource_type)
    if content is not None:
        resource["id"] = resource_id
    result = _service().update(resource_type, resource_id, resource, request.headers.get("If-Match"), content)
    return _write_reply(result, f"Updated {resource_type}/{resource_id}")


@bp.patch("/<resource_type>/<resource_id>")
@Route("patch", needs="u", patient=Reach.WRITES)
def patch(resource_type: str, resource_id: str) -> Response:
    check_type(resource_type, "patch")
    operations = parse_body(request, allow_patch=True)
    if request.mimetype != "application/json-patch+json":
        raise BadRequest("PATCH takes a JSON Patch document (Content-Type application/json-patch+json)")
    result = _service().patch(resource_type, resource_id, operations, request.headers.get("If-Match"))
    return _write_reply(result, f"Patched {resource_type}/{resource_id}")


@bp.delete("/<resource_type>/<resource_id>")
@Route("delete", needs="d", patient=Reach.WRITES)
def delete(resource_type: str, resource_id: str) -> Response:
    version, outcome = _service().delete(resource_type, resource_id)
    headers = {"ETag": f'W/"{version.version}"'} if version else {}
    return _reply(outcome, 200, headers)


@bp.get("/<resource_type>/_history")
@Route("history-type", needs="s")
def type_history(resource_type: str) -> Response:
    return _history(resource_type, None)


@bp.get("/<resource_type>/<resource_id>/_history")
@Route("history-instance", needs="r", patient=Reach.BY_ID)
def instance_history(resource_type: str, resource_id: str) -> Response:
    return _history(resource_type, resource_id)


def _history(resource_type: str, resource_id: str | None) -> Response:
    settings = current_app.extensions["fhir"].settings
    bundle = history_bundle(_service().store, g.rules, base_url(), resource_type, resource_id, request.args.to_dict(),
                            settings.history_page_size, settings.history_page_max, _service().full_resource)
    return _reply(bundle)


@bp.get("/Patient/<patient_id>/$everything")
@Route("operation", needs="r", resource_types=("Patient",), operation="everything", patient=Reach.RECORD)
def everything(patient_id: str) -> Response:
    items = [(k, v) for k, v in request.args.items(multi=True) if k not in ("_format", "_pretty")]
    return _reply(everything_bundle(_service(), _search_context(), patient_id, items))


def _owners_decision(operation: str) -> Route:
    """A decision on the record itself: its owner's alone (their token with `u` on their Patient)."""
    return Route("operation", needs="u", resource_types=("Patient",), operation=operation, patient=Reach.RECORD,
                 owner_only=True)


@bp.post("/Patient/<patient_id>/$close-record")
@_owners_decision("close-record")
def close_record(patient_id: str) -> Response:
    """The owner closes their record: its content is inaccessible to everyone, kept, and can be reopened."""
    _service().read("Patient", patient_id)
    kept = _lifecycle().close(patient_id)
    return _reply(information(f"The record is closed; its content is kept until {kept.date().isoformat()} "
                              f"unless it is reopened ($reopen-record) or deleted ($delete-record)"))


@bp.post("/Patient/<patient_id>/$reopen-record")
@_owners_decision("reopen-record")
def reopen_record(patient_id: str) -> Response:
    _service().read("Patient", patient_id)
    if not _lifecycle().reopen(patient_id):
        raise BadRequest("This record is not closed", code="business-rule")
    return _reply(information("The record is open again"))


@bp.post("/Patient/<patient_id>/$delete-record")
@_owners_decision("delete-record")
def delete_record(patient_id: str) -> Response:
    """Definitive deletion, beyond recovery: asked with `confirm=true`."""
    if request.args.get("confirm") != "true":
        raise BadRequest("Definitive deletion erases the whole record beyond recovery: ask again with "
                         "confirm=true", code="required")
    _service().read("Patient", patient_id)
    erased = _lifecycle().delete(patient_id)
    return _reply(information(f"The record was deleted for good: {erased} resources erased"))


def _lifecycle():
    return current_app.extensions["fhir"].lifecycle


@bp.post("/$validate", endpoint="validate_system")
@Route("operation", operation="validate")
def validate_system() -> Response:
    """POST [base]/$validate: a resource of any R4 type, the type being the resource's own."""
    return _validate(None, None)


@bp.route("/<resource_type>/$validate", methods=["GET", "POST"])
@Route("operation", operation="validate")
def validate_type(resource_type: str) -> Response:
    """Any R4 resource type, stored here or not: nothing is read or written."""
    return _validate(resource_type, None)


@bp.route("/<resource_type>/<resource_id>/$validate", methods=["GET", "POST"])
@Route("operation", needs="r", operation="validate")
def validate_instance(resource_type: str, resource_id: str) -> Response:
    return _validate(resource_type, resource_id)


def _validate(resource_type: str | None, resource_id: str | None) -> Response:
    check_validated_type(resource_type, resource_id)
    body = parse_body(request) if request.method == "POST" else None
    outcome = validate_operation(_service(), resource_type, body, resource_id, request.args.get("mode"),
                                 request.args.getlist("profile"))
    return _reply(outcome)
