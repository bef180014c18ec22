"""IHE XDS.b pull over SOAP 1.2 (service/xds_pull.py): ITI-18 at /xds/registry, ITI-43 at /xds/repository.

The same bearer tokens, access rules and audit trail as the FHIR API: a stored query needs `s` on
DocumentReference and is audited as a search, a retrieve needs `r` on DocumentReference and Binary and is
audited as a read (each route's declaration, api/routes.py).
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from ..service.xds_pull import retrieve, stored_query
from . import audit_trail, guard
from .rest import _search_context, _service
from .routes import Route

bp = Blueprint("xds", __name__, url_prefix="/xds")
bp.before_request(guard.authorize)
bp.after_request(audit_trail.record)


def _repository() -> str:
    return current_app.extensions["fhir"].settings.xds_repository_id


@bp.post("/registry")
@Route("search-type", needs="s", resource_types=("DocumentReference",))
def registry() -> Response:
    """ITI-18 Registry Stored Query (FindDocuments, GetDocuments)."""
    body, g.audit_query = stored_query(_search_context(), request.get_data(), request.content_type or "",
                                       _repository())
    return Response(body, 200, content_type="application/soap+xml; charset=utf-8")


@bp.post("/repository")
@Route("read", needs="r", resource_types=("DocumentReference", "Binary"))
def repository() -> Response:
    """ITI-43 Retrieve Document Set (MTOM)."""
    body, content_type = retrieve(_service(), _search_context(), request.get_data(), request.content_type or "",
                                  _repository())
    return Response(body, 200, content_type=content_type)
