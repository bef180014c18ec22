"""What each guarded route needs and how it is audited: one declaration, made where the route is registered.

Every view of the FHIR and XDS blueprints is decorated with its `Route`, under its `@bp.get`/`@bp.post`:
the SMART permissions a token needs and what a patient's token reaches through it (api/guard.py), the
restful-interaction code and operation its AuditEvent records (api/audit_trail.py). A view without one is
refused to every caller, and a test walks the app's URL map to prove none is missing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from flask import current_app, request

View = TypeVar("View", bound=Callable[..., Any])


class Reach(Enum):
    """What a patient's token (`patient` claim) reaches through a route; api/guard.py keeps it there."""
    RECORD = "record"      # their record as a whole: the URL's patient_id must be theirs
    BY_ID = "by-id"        # a resource of their record by id: their own Patient only (access/policy.py hides the rest)
    WRITES = "writes"      # the types a patient writes (guard.PATIENT_WRITABLE), no conditional create
    SEARCHES = "searches"  # the types a patient searches (guard.PATIENT_SEARCHES), restricted to their record


@dataclass(frozen=True)
class Route:
    """One route's access rule and audited interaction; decorating its view declares it."""
    interaction: str                      # restful-interaction code of its AuditEvent (audit/events.py ACTIONS)
    needs: str = ""                       # SMART permissions (`cruds` letters); "" when checked further on
    resource_types: tuple[str, ...] = ()  # the types `needs` applies to; () for the URL's `resource_type`
    operation: str | None = None          # the operation's name, without `$`, in the AuditEvent's subtype
    patient: Reach | None = None          # None: refused to a patient's token
    owner_only: bool = False              # the record owner's decision: refused to any other token
    public: bool = False                  # served without a token, and not audited (the CapabilityStatement)

    def __call__(self, view: View) -> View:
        _DECLARED[view] = self
        return view


_DECLARED: dict[Callable[..., Any], Route] = {}


def declared(view: Callable[..., Any] | None) -> Route | None:
    """The route `view` was declared with, None when it was not."""
    return _DECLARED.get(view) if view is not None else None


def current() -> Route | None:
    """The declaration of the view serving the current request."""
    return declared(current_app.view_functions.get(request.endpoint or ""))
