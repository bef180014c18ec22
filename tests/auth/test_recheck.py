"""FHIR_TOKEN_RECHECK_SECONDS: how old what a request's token check knows of revocations and clients'
statuses may be (auth/recheck.py). A suspension takes effect within that bound, introspection at once; 0 reads
on every request; a revocation takes effect at once in the process that took it. Against a real server, and
apps made in the test (one process: what that process does at once can be seen), and on a clock the test
moves."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from joserfc.jwk import ECKey, KeySet

from fhir_server import create_app
from fhir_server.auth.backend_client import ASSERTION_TYPE, register
from fhir_server.auth.clients import ClientRegistry
from fhir_server.auth.recheck import ReadEveryNSeconds
from fhir_server.storage.auth import ClientStore, Revocations
from tests.auth.test_guard import refused_by_every_worker
from fhir_server.auth.backend_client import register_in_process
from tests.conftest import RECHECK_MARGIN, Server

from ..api.client import JSON

BOUND = 3


@pytest.fixture(scope="module")
def rechecking(database, tmp_path_factory):
    """A server (two workers) that rechecks every BOUND seconds, on the run's database."""
    uri, name = database
    srv = Server(uri, name, tmp_path_factory.mktemp("recheck") / "server.log",
                 {"FHIR_TOKEN_RECHECK_SECONDS": str(BOUND)})
    try:
        srv.wait_ready()
        yield srv.base
    finally:
        srv.stop()


def in_process(database, seconds: int) -> tuple:
    """(test client, software allowed to read and search everything) of an app made with `seconds`."""
    uri, name = database
    app = create_app({"mongodb_uri": uri, "database_name": name, "token_recheck_seconds": seconds})
    client = app.test_client()
    return client, register_in_process(app, client, f"Rechecked every {seconds} s", ["system/*.rs"])


def read(client, software) -> int:
    return client.get("/fhir/Patient?_count=1", headers={**software.headers("system/*.rs"), "Accept": JSON}).status_code


def test_a_suspension_is_refused_after_the_configured_bound_and_introspection_sees_it_at_once(db, rechecking):
    origin = rechecking.removesuffix("/fhir")
    software = register(db, origin, "Suspended, rechecked", ["system/*.rs"])
    checker = register(db, origin, "Introspecting", ["system/*.rs"])
    token = {**software.headers("system/*.rs"), "Accept": JSON}
    assert requests.get(f"{rechecking}/Patient", params={"_count": 1}, headers=token).status_code == 200
    ClientRegistry(db).set_status(software.client_id, "suspended")
    within = requests.get(f"{rechecking}/Patient", params={"_count": 1}, headers=token)
    assert within.status_code in (200, 401)  # within the bound: either, as the worker last read
    introspected = requests.post(f"{origin}/oauth/introspect", data={
        "token": token["Authorization"].split()[1], "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": checker.assertion()})
    assert introspected.json() == {"active": False}
    time.sleep(BOUND + RECHECK_MARGIN)
    refused_by_every_worker(rechecking, token)


def test_zero_reads_on_every_request(database, db):
    client, software = in_process(database, 0)
    assert read(client, software) == 200
    ClientRegistry(db).set_status(software.client_id, "suspended")
    assert read(client, software) == 401


def test_a_revocation_takes_effect_at_once_in_the_process_that_took_it(database):
    client, software = in_process(database, 3600)
    assert read(client, software) == 200
    revoked = client.post("/oauth/revoke", base_url=software.origin, data={
        "token": software.token("system/*.rs"), "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": software.assertion()})
    assert revoked.status_code == 200
    assert read(client, software) == 401


class Clock:
    """The time ReadEveryNSeconds sees, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_what_is_read_is_kept_exactly_the_bound_and_expired_revocations_are_dropped(db):
    clock, registry, revocations = Clock(), ClientRegistry(db), Revocations(db)
    states = ReadEveryNSeconds(ClientStore(db), revocations, 5, clock)
    client = registry.add("Rechecked on a clock", KeySet([ECKey.generate_key("P-384")]).as_dict(private=False),
                          ["system/*.rs"])
    token_id, expired_id = uuid.uuid4().hex, uuid.uuid4().hex
    assert states.is_referenced(client.client_id) and not states.is_revoked(token_id)
    registry.set_status(client.client_id, "suspended")
    revocations.revoke(token_id, datetime.now(timezone.utc) + timedelta(minutes=5))
    revocations.revoke(expired_id, datetime.now(timezone.utc) - timedelta(seconds=1))
    clock.now = 4.9
    assert states.is_referenced(client.client_id) and not states.is_revoked(token_id)  # as read at 0
    clock.now = 5.0
    assert not states.is_referenced(client.client_id) and states.is_revoked(token_id)
    assert not states.is_revoked(expired_id)  # an expired token is refused by its signature check: not kept
    here = uuid.uuid4().hex
    states.revoked_here(here)
    assert states.is_revoked(here)
