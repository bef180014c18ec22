"""The portal as a client of the API's services: each call runs under the visitor's rules (access/policy.py, as
for a patient's or a representative's token) and is recorded in the activity history as the same call made
through the API would be (api/audit_trail.py)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from urllib.parse import urlencode

from flask import current_app, g, request

from ...access.policy import RecordAccess
from ...audit.events import Access, Actor
from ...errors import FhirError
from ...service.resources import ResourceService
from ...service.search import SearchContext, search_bundle
from ..audit_trail import store_events

CLIENT_ID = "portal"  # how the portal is named as the client software in its AuditEvents


def _rules() -> RecordAccess:
    visitor = g.visitor
    actor = Actor(kind="representative" if visitor.representative else "patient", client_id=CLIENT_ID,
                  patient=visitor.patient, representative=visitor.ins if visitor.representative else None,
                  address=request.remote_addr)
    services = current_app.extensions["fhir"]
    return RecordAccess(services.store, services.resources.records, actor, services.resources.notify,
                        base=services.settings.fhir_base)


@contextmanager
def call(interaction: str, *, operation: str | None = None, query: str | None = None,
         asked: str | None = None, purges: bool = False) -> Iterator[RecordAccess]:
    """One call of the visitor's, under their rules, audited as `interaction` (a restful-interaction code) with
    its outcome: a refusal raised inside is recorded with its status, then raised. `purges`: the record is
    deleted by it, and its trace goes to the server's chain (as api/audit_trail.py does for $delete-record)."""
    rules = _rules()
    status, description = 200, None
    try:
        yield rules
    except FhirError as error:
        status, description = error.status, "; ".join(i.get("diagnostics", "") for i in error.outcome()["issue"])
        raise
    finally:
        event = Access(interaction=interaction, status=status, recorded=datetime.now(timezone.utc), actor=rules.actor,
                       query=query, operation=operation, emergency=False, description=description)
        patients = [] if purges else list(rules.patients) or [g.visitor.patient]
        store_events(event, patients, {} if purges else rules.touched, asked)


def service(rules: RecordAccess) -> ResourceService:
    return current_app.extensions["fhir"].resources.acting_for(rules)


def find(resource_type: str, items: list[tuple[str, str]]) -> dict:
    """A search of the open record, restricted to it as a patient's token's searches are, and audited: its
    Bundle."""
    services = current_app.extensions["fhir"]
    settings = services.settings
    items = [*items, ("patient", f"Patient/{g.visitor.patient}")]
    with call("search-type", query=f"{resource_type}?{urlencode(items)}") as rules:
        context = SearchContext(services.store, services.pages, settings.fhir_base, settings.search_page_size,
                                settings.search_page_max, settings.search_max_results, service(rules).full_resource,
                                rules=rules)
        return search_bundle(context, resource_type, items, strict=False)
