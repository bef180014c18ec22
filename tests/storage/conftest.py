"""The storage tests' store: on the test database, indexed as the app does it, with posting lists even on
MongoDB (which keeps none: its indexes serve), so that they are tested wherever the tests run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fhir_server.registry import RESOURCES
from fhir_server.search import INDEXES
from fhir_server.storage.ferretdb import index_id_lookups
from fhir_server.storage.mongo import ensure_indexes
from fhir_server.storage.postings import Postings
from fhir_server.storage.resources import ResourceStore


@pytest.fixture()
def store(db):
    ensure_indexes(db, list(RESOURCES), INDEXES)
    if os.environ.get("FERRETDB_SQLITE_DIR"):  # as the app does at start-up
        index_id_lookups(Path(os.environ["FERRETDB_SQLITE_DIR"]), db.name)
    store = ResourceStore(db)
    if store.postings is None:
        store.postings = Postings(db)
    return store
