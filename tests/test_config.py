"""The public origin the server names itself by, from its settings alone (config.Settings), and other
settings' checks."""
from __future__ import annotations

import pytest

from fhir_server.config import Settings, is_wildcard


def test_the_origin_is_fhir_base_url_s_else_the_listen_address():
    behind_proxy = Settings(base_url="https://Record.example.org/fhir/", host="127.0.0.1", port=8081)
    assert (behind_proxy.origin, behind_proxy.fhir_base) == ("https://record.example.org",
                                                             "https://Record.example.org/fhir")
    direct = Settings(host="::1", port=9000)
    assert (direct.origin, direct.fhir_base) == ("http://[::1]:9000", "http://[::1]:9000/fhir")


@pytest.mark.parametrize("host, named", [
    ("record.example.org", True), ("RECORD.example.org:443", True), ("127.0.0.1:8081", True),
    ("record.example.org:80", False), ("127.0.0.1:8080", False), ("localhost:8081", False), ("", False),
    ("record.example.org.evil.example", False),
])
def test_a_host_header_names_the_server_by_its_public_host_or_listen_address(host, named):
    settings = Settings(base_url="https://record.example.org/fhir", host="127.0.0.1", port=8081)
    assert settings.names_this_server(host) is named


@pytest.mark.parametrize("base_url", ["record.example.org/fhir", "https://x:port/fhir", "ftp://x/fhir", "https:///fhir"])
def test_a_base_url_that_is_not_an_absolute_http_url_is_refused(base_url):
    with pytest.raises(ValueError, match="FHIR_BASE_URL"):
        Settings(base_url=base_url)


def test_wildcard_addresses():
    assert is_wildcard("0.0.0.0") and is_wildcard("::")
    assert not is_wildcard("127.0.0.1") and not is_wildcard("record.example.org")


def test_the_token_recheck_bound_comes_from_the_environment_and_is_never_negative(monkeypatch):
    monkeypatch.delenv("FHIR_TOKEN_RECHECK_SECONDS", raising=False)
    assert Settings.from_mapping().token_recheck_seconds == 5
    monkeypatch.setenv("FHIR_TOKEN_RECHECK_SECONDS", "0")
    assert Settings.from_mapping().token_recheck_seconds == 0
    with pytest.raises(ValueError, match="FHIR_TOKEN_RECHECK_SECONDS"):
        Settings(token_recheck_seconds=-1)
