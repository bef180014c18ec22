"""The activity history: every FHIR interaction, allowed or refused, recorded as AuditEvents.

After each request under /fhir and /xds (but the public CapabilityStatement) the interaction is described:
its restful-interaction code and operation as its route declares them (api/routes.py), and from what
the access rules saw (access/policy.py: the patients whose records it concerned, the resources shown or
written, whether an emergency access opened a record) and recorded by the audit service: one AuditEvent per
patient concerned (IHE BALP), in that patient's hash chain, or one in the server's chain when it concerned
no record.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import urlencode

from flask import Response, current_app, g, request

from ..storage import DatabaseError
from ..audit.events import Access, Actor
from . import errors, routes
from .routes import Route

UNDECLARED = Route("operation")  # how a route without a declaration (refused: api/guard.py) is recorded


def record(response: Response) -> Response:
    """The blueprint's after-request hook (refusals included: they are responses too)."""
    route = routes.current() or UNDECLARED
    if route.public:
        return response
    rules = g.get("rules")
    actor = rules.actor if rules is not None and rules.actor is not None else Actor(
        kind="anonymous", address=request.remote_addr)
    interaction = route.interaction
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
        if request.method == "POST":  # POST _search: the form's parameters too (its body is parsed: re-encoded)
            pairs = "&".join(p for p in (pairs, urlencode(list(request.form.items(multi=True)))) if p)
        query = f"{args.get('resource_type', '')}?{pairs}"
    else:
        query = None
    patients = list(rules.patients) if rules is not None else []
    if not patients and args.get("patient_id"):
        patients = [args["patient_id"]]
    if route.operation == "delete-record" and response.status_code == 200:
        # The record and its chain are gone: the purge's trace goes to the server's chain, naming the id only.
        patients, touched, asked = [], {}, f"Patient/{args['patient_id']}"
    event = Access(interaction=interaction, status=response.status_code, recorded=datetime.now(timezone.utc),
                   actor=actor, query=query, operation=route.operation,
                   emergency=bool(rules and rules.emergency), description=_refusal(response))
    try:
        store_events(event, patients, touched, asked)
    except DatabaseError as error:  # no answer leaves without its trace
        return errors.database_error(error)
    return response


def store_events(event: Access, patients: list[str], touched: dict[str, list[str]], asked: str | None) -> None:
    """Records one interaction (of the API, or of the patient's portal: api/portal/): one AuditEvent per patient
    whose record it concerned, and one in the server's chain when it concerned none or touched what is in no
    record, stored together, each naming what of that record (or of none) was touched (`touched`: "Type/id" ->
    whose records hold it), else what was asked for."""
    accesses = []
    chains: list[str | None] = list(patients)
    if not chains or any(not whose for whose in touched.values()):
        chains.append(None)  # what is in no record (a Binary kept with none...): the server's chain
    for patient_id in chains:
        # Each patient's event names what of their record was touched (the server's, what was in none).
        entities = [r for r, whose in touched.items() if (patient_id in whose if patient_id else not whose)]
        if not entities and asked:  # pragma: no mutate (`or`: a route naming a resource touches that one alone)
            entities = [asked]
        accesses.append((replace(event, entities=entities), patient_id))
    current_app.extensions["fhir"].audit.record_all(accesses)


def _refusal(response: Response) -> str | None:
    """What a refusal's OperationOutcome said."""
    if response.status_code < 400 or not response.is_json:  # pragma: no mutate (`and`: the same None below)
        return None
    issues = (response.get_json(silent=True) or {}).get("issue") or []
    return "; ".join(str(i.get("diagnostics", "")) for i in issues)[:1000] or None
