"""Assertions must name the configured public origin (FHIR_BASE_URL's, else the listen address), whatever
Host header the request carries; OAuth requests whose Host does not name the server are refused (400), and
no URL the server writes is made of a Host header. Over HTTP against real servers: the test run's own, and
one configured as if behind a TLS proxy."""
from __future__ import annotations

import pytest
import requests
from joserfc import jwt

from fhir_server.auth.clients import ClientRegistry
from fhir_server.storage.mongo import ensure_indexes
from tests.auth.test_oauth import Vendor, server_keys, token_request
from tests.conftest import Server

PUBLIC = "https://record.example.org"
ODD_HOSTS = ["evil.example", "127.0.0.1:9999", "localhost", "a b", "127.0.0.1@evil.example", "[::1", "é.example"]


@pytest.fixture(scope="module")
def registry(db) -> ClientRegistry:
    ensure_indexes(db, [])
    return ClientRegistry(db)


@pytest.fixture(scope="module")
def proxied(database, tmp_path_factory):
    """A server whose public base is https://record.example.org/fhir (FHIR_BASE_URL), reached directly."""
    uri, name = database
    srv = Server(uri, name, tmp_path_factory.mktemp("proxied") / "server.log", {"FHIR_BASE_URL": f"{PUBLIC}/fhir"})
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def test_an_assertion_for_another_server_gets_no_token_even_with_its_host(registry, base):
    origin = base.removesuffix("/fhir")
    vendor = Vendor(registry, ["system/*.rs"])
    elsewhere = "http://127.0.0.1:9999"
    refused = token_request(origin, vendor.assertion(elsewhere), headers={"Host": "127.0.0.1:9999"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", refused.text
    assert origin in refused.json()["error_description"]
    refused = token_request(origin, vendor.assertion(elsewhere))  # the server's own Host: the audience decides
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client", refused.text
    assert token_request(origin, vendor.assertion(origin)).status_code == 200


def test_behind_a_proxy_only_the_public_origin_is_an_audience(registry, proxied):
    direct = proxied.base.removesuffix("/fhir")
    listen_host = direct.removeprefix("http://")
    vendor = Vendor(registry, ["system/*.cruds"])
    for host in (listen_host, "record.example.org"):  # both name the server; neither makes the audience
        refused = token_request(direct, vendor.assertion(direct), headers={"Host": host})
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_client", refused.text
    for host in ("record.example.org", "record.example.org:443", listen_host):
        granted = token_request(direct, vendor.assertion(PUBLIC), scope="system/*.cruds", headers={"Host": host})
        assert granted.status_code == 200, granted.text
    token = granted.json()["access_token"]
    claims = jwt.decode(token, server_keys(direct)).claims
    assert (claims["iss"], claims["aud"]) == (PUBLIC, f"{PUBLIC}/fhir")
    created = requests.post(f"{proxied.base}/Patient", json={"resourceType": "Patient"},
                            headers={"Authorization": f"Bearer {token}", "Host": "evil.example"})
    assert created.status_code == 201, created.text
    assert created.headers["Location"].startswith(f"{PUBLIC}/fhir/Patient/")
    config = requests.get(f"{direct}/.well-known/smart-configuration").json()
    assert (config["issuer"], config["token_endpoint"]) == (PUBLIC, f"{PUBLIC}/oauth/token")


@pytest.mark.parametrize("host", ODD_HOSTS)
def test_oauth_refuses_a_host_that_does_not_name_the_server(registry, base, host):
    origin = base.removesuffix("/fhir")
    vendor = Vendor(registry, ["system/*.rs"])
    headers = {"Host": host.encode("utf-8")}
    answers = [token_request(origin, vendor.assertion(origin), headers=headers),
               requests.post(f"{origin}/oauth/introspect", data={"token": "x"}, headers=headers),
               requests.get(f"{origin}/.well-known/smart-configuration", headers=headers)]
    for answer in answers:
        assert answer.status_code == 400, (answer.request.url, answer.text)
        assert answer.json()["error"] == "invalid_request"
    page = requests.get(f"{origin}/oauth/authorize?response_type=code", headers=headers)
    assert page.status_code == 400 and "does not name this server" in page.text


def test_fhir_urls_never_come_from_the_host_header(http, base):
    created = http.post(f"{base}/Patient", json={"resourceType": "Patient"}, headers={"Host": "evil.example"})
    assert created.status_code == 201, created.text
    assert created.headers["Location"].startswith(f"{base}/Patient/")
    found = http.get(f"{base}/Patient", params={"_id": created.json()["id"]}, headers={"Host": "evil.example"})
    assert found.status_code == 200
    assert all(link["url"].startswith(base) for link in found.json()["link"])
