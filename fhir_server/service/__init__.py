"""The FHIR interactions: plain arguments in, plain data out; no web framework here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from authlib.integrations.flask_oauth2 import AuthorizationServer

    from ..auth.server import TokenChecks
    from ..config import Settings
    from ..storage.resources import ResourceStore
    from ..storage.search_pages import SearchPages
    from ..storage.transactions import Transactions
    from .audit import AuditTrail
    from .notify import NoticeChoices
    from .records import RecordLifecycle
    from .resources import ResourceService


@dataclass
class Services:
    """What the HTTP layer reaches through `current_app.extensions["fhir"]`."""

    settings: "Settings"
    store: "ResourceStore"
    resources: "ResourceService"
    pages: "SearchPages"
    transactions: "Transactions"
    authorization: "AuthorizationServer"
    tokens: "TokenChecks"
    lifecycle: "RecordLifecycle"
    audit: "AuditTrail"
    notices: "NoticeChoices"
