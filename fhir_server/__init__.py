"""FHIR R4 server for a national shared health record: the Flask app factory."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported in create_app: `fhir_server.formats`, the commands and fhir-validate need no Flask
    from flask import Flask


def create_app(config: dict | None = None) -> Flask:
    """The WSGI app; `config` overrides the environment (see config.Settings)."""
    from flask import Flask

    from .api import errors, oauth, patient_pages, portal, rest, xds
    from .api.body import CappedRequest
    from .auth.server import authorization_server
    from .config import Settings
    from .registry import RESOURCES
    from .search import INDEXES
    from .service import Services
    from .storage.notification_queue import Notifications
    from .storage.notification_settings import NotificationSettings
    from .service.audit import AuditTrail
    from .service.audit_writer import from_environment
    from .service.notify import NoticeChoices, notifier, start_delivery
    from .service.records import RecordLifecycle
    from .service.resources import ResourceService
    from .storage.ferretdb import index_id_lookups
    from .storage.mongo import connect, ensure_indexes
    from .storage.resources import ResourceStore
    from .storage.search_pages import SearchPages
    from .storage.transactions import Transactions

    settings = Settings.from_mapping(config)
    app = Flask(__name__)
    app.request_class = CappedRequest  # FHIR_MAX_BODY_BYTES holds for chunked bodies too (api/body.py)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes

    db = connect(settings.mongodb_uri, settings.database_name, settings.concerns)
    ensure_indexes(db, list(RESOURCES), INDEXES)
    if settings.ferretdb_sqlite_dir:
        index_id_lookups(Path(settings.ferretdb_sqlite_dir), settings.database_name)
    store = ResourceStore(db)
    store.build_locator()  # a database written before record data was located (storage/locator.py)
    store.build_document_ids()  # ... or before documents' unique ids were claimed (storage/document_ids.py)
    # Writes under way on other workers or nodes are younger than a lease: left to the second pass.
    store.recover(older_than=timedelta(seconds=settings.transaction_lease_seconds))
    store.recover_later(timedelta(seconds=settings.transaction_lease_seconds))
    transactions = Transactions(store, settings.transaction_lease_seconds)
    transactions.sweep()
    store.build_postings(list(RESOURCES))
    pages = SearchPages(db, settings.search_pages_ttl)
    authorization, tokens = authorization_server(app, db, settings.token_recheck_seconds)
    notifications = Notifications(db)
    audit = AuditTrail(store, writer=from_environment())  # serve's audit writer (service/audit_writer.py)
    app.extensions["fhir"] = Services(settings, store, ResourceService(store, notifier(db)), pages,
                                      transactions, authorization, tokens,
                                      RecordLifecycle(store, settings.record_retention_years, audit.delete_chain),
                                      audit, NoticeChoices(NotificationSettings(db)))
    app.extensions["notification_delivery"] = start_delivery(store, notifications, settings.notification_interval)

    warm_up()
    app.register_blueprint(rest.bp)
    app.register_blueprint(xds.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(patient_pages.bp)
    app.register_blueprint(portal.bp)
    errors.register(app)
    return app


def warm_up() -> None:
    """Loads the R4 definitions (about a second) at start-up rather than on a worker's first request."""
    from validation import validate_resource

    from .formats.structure import element_index
    validate_resource({"resourceType": "Patient"})
    element_index()
