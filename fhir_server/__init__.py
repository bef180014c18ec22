"""FHIR R4 server for a national shared health record: the Flask app factory."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from .config import Settings
from .registry import RESOURCES
from .service.resources import ResourceService
from .storage.mongo import connect, ensure_indexes
from .storage.resources import ResourceStore


@dataclass
class Services:
    settings: Settings
    store: ResourceStore
    resources: ResourceService


def create_app(config: dict | None = None) -> Flask:
    """The WSGI app; `config` overrides the environment (see config.Settings)."""
    settings = Settings.from_mapping(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False

    db = connect(settings.mongodb_uri, settings.database_name)
    ensure_indexes(db, list(RESOURCES))
    store = ResourceStore(db)
    store.recover()
    app.extensions["fhir"] = Services(settings, store, ResourceService(store))

    from .api import errors, rest
    app.register_blueprint(rest.bp)
    errors.register(app)
    return app
