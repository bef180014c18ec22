"""The activity history: every FHIR interaction, allowed or refused, recorded as AuditEvents.

After each request under /fhir (but the public CapabilityStatement) the interaction is described from what
the access rules saw (access/policy.py: the patients whose records it concerned, the resources shown or
written, whether an emergency access opened a record) and recorded by the audit service: one AuditEvent per
patient concerned (IHE BALP), in that patient's hash chain, or one in the server's chain when it concerned
no record.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from flask import Response, current_app, g, request

from .. import access
from ..storage import DatabaseError
from . import errors
from ..audit.events import Access, Actor

INTERACTIONS = {
    "fhir.read": "read", "fhir.vread": "vread", "fhir.update": "update", "fhir.conditional_update": "update",
    "fhir.patch": "patch", "fhir.delete": "delete", "fhir.conditional_delete": "delete", "fhir.create": "create",
    "fhir.search": "search-type", "fhir.search_by_post": "search-type", "fhir.type_history": "history-type",
    "fhir.instance_history": "history-instance", "fhir.bundle": "batch", "fhir.everything": "operation",
    "fhir.validate_type": "operation", "fhir.validate_instance": "operation", "fhir.close_record": "operation",
    "fhir.reopen_record": "operation", "fhir.delete_record": "operation", "fhir.ingest": "operation",
    "xds.registry": "search-type", "xds.repository": "read",
}
OPERATIONS = {"fhir.everything": "everything", "fhir.validate_type": "validate", "fhir.validate_instance": "validate",
              "fhir.close_record": "close-record", "fhir.reopen_record": "reopen-record",
              "fhir.delete_record": "delete-record", "fhir.ingest": "ingest"}


def record(response: Response) -> Response:
    """The blueprint's after-request hook (refusals included: they are responses too)."""
    if request.endpoint == "fhir.metadata":
        return response
    rules = access.active()
    actor = rules.actor if rules is not None and rules.actor is not None else Actor(
        kind="anonymous", address=request.remote_addr)
    interaction = INTERACTIONS.get(request.endpoint or "", "operation")
    if interaction == "batch":
        interaction = g.get("bundle_type") or "batch"
    args = request.view_args or {}
    touched = rules.touched if rules is not None else {}
    asked = f"{args['resource_type']}/{args['resource_id']}" if args.get("resource_id") and args.get(
        "resource_type") else None
    if request.blueprint == "xds":
        query = g.get("audit_query")  # the stored query, as the FHIR search it ran
    elif interaction == "search-type":
        pairs = request.query_string.decode("utf-8", "replace")
        if request.method == "POST":
            pairs = "&".join(p for p in (pairs, request.get_data(as_text=True)) if p)
        query = f"{args.get('resource_type', '')}?{pairs}"
    else:
        query = None
    patients = list(rules.patients) if rules is not None else []
    if not patients and args.get("patient_id"):
        patients = [args["patient_id"]]
    if request.endpoint == "fhir.delete_record" and response.status_code == 200:
        # The record and its chain are gone: the purge's trace goes to the server's chain, naming the id only.
        patients, touched, asked = [], {}, f"Patient/{args['patient_id']}"
    event = Access(interaction=interaction, status=response.status_code, recorded=datetime.now(timezone.utc),
                   actor=actor, query=query, operation=OPERATIONS.get(request.endpoint or ""),
                   emergency=bool(rules and rules.emergency), description=_refusal(response))
    trail = current_app.extensions["fhir"].audit
    try:
        for patient_id in patients or [None]:
            # Each patient's event names what of their record was touched (the server's, what was in none).
            entities = [r for r, whose in touched.items() if (patient_id in whose if patient_id else not whose)]
            if not entities and asked:
                entities = [asked]
            trail.record(replace(event, entities=entities), patient_id)
    except DatabaseError as error:  # no answer leaves without its trace
        return errors.database_error(error)
    return response


def _refusal(response: Response) -> str | None:
    """What a refusal's OperationOutcome said."""
    if response.status_code < 400 or not response.is_json:
        return None
    issues = (response.get_json(silent=True) or {}).get("issue") or []
    return "; ".join(str(i.get("diagnostics", "")) for i in issues)[:1000] or None
