"""Registering software: what the registry refuses, so that no client is stored that could not be trusted."""
from __future__ import annotations

import pytest
from joserfc.jwk import ECKey, KeySet

from fhir_server.auth.clients import ClientRegistry, InvalidRegistration

REDIRECT = "https://app.example.org/callback"


@pytest.fixture()
def registry(db) -> ClientRegistry:
    return ClientRegistry(db)


def public_jwks() -> dict:
    return KeySet([ECKey.generate_key("P-256", private=False)]).as_dict(private=False)


@pytest.mark.parametrize("redirects, scopes, why", [
    ([REDIRECT], ["system/*.rs"], "patient/ scopes"),
    ([REDIRECT], ["patient/*.rs", "user/*.rs"], "patient/ scopes"),
    ([REDIRECT], ["patient/*.rs", "not-a-scope"], "patient/ scopes"),
    ([REDIRECT], [], "patient/ scopes"),
    (["http://app.example.org/callback"], ["patient/*.rs"], "https .*not \\['http://app.example.org/callback'\\]"),
    ([], ["patient/*.rs"], "https .*not none"),
])
def test_a_patient_app_is_refused_what_it_may_not_have(registry, redirects, scopes, why):
    before = len(registry.all())
    with pytest.raises(InvalidRegistration, match=why):
        registry.add_public("Patient app", redirects, scopes)
    assert len(registry.all()) == before  # nothing stored
    app = registry.add_public("Patient app", ["http://127.0.0.1:8765/cb", REDIRECT], ["patient/*.rs"])
    assert registry.get(app.client_id).redirect_uris == ["http://127.0.0.1:8765/cb", REDIRECT]


def test_a_patient_app_needs_its_vendors_name(registry):
    before = len(registry.all())
    with pytest.raises(InvalidRegistration, match="vendor's name"):
        registry.add_public("  ", [REDIRECT], ["patient/*.rs"])
    assert len(registry.all()) == before


def test_backend_software_registers_public_keys_only(registry):
    private = KeySet([ECKey.generate_key("P-256")]).as_dict(private=True)
    before = len(registry.all())
    not_a_jwks = "keys must be a JWKS"  # a key list not wrapped in {"keys": ...}, an empty set: said so, not read
    for jwks, why in ((private, "private key"), ({"keys": []}, not_a_jwks), ({}, not_a_jwks),
                      (public_jwks()["keys"], not_a_jwks), ({"keys": [{"kty": "nope"}]}, "cannot be read")):
        with pytest.raises(InvalidRegistration, match=why):
            registry.add("Vendor", jwks, ["system/*.rs"])
    for scopes, named in ((["system/*.rs", "everything"], r"\['everything'\]"), ([], "none")):  # named
        with pytest.raises(InvalidRegistration, match=rf"SMART scopes such as system/\*\.rs, not {named}$"):
            registry.add("Vendor", public_jwks(), scopes)
    assert len(registry.all()) == before  # nothing stored
    with pytest.raises(InvalidRegistration, match="vendor's name"):
        registry.add("  ", public_jwks(), ["system/*.rs"])
    client = registry.add("Vendor", public_jwks(), ["system/*.rs"])
    assert (registry.get(client.client_id).status, registry.get(client.client_id).scopes) == (
        "referenced", ["system/*.rs"])


def test_a_status_is_one_of_the_three(registry):
    """A status the registry does not know (a typo of the operator's tool) is refused, the client left as it
    was: never stored, where `clients list` would show it and no rule would know what it means."""
    client = registry.add("Vendor", public_jwks(), ["system/*.rs"])
    for unknown in ("suspend", "active", "Suspended", ""):
        with pytest.raises(InvalidRegistration, match="referenced, suspended, withdrawn"):
            registry.set_status(client.client_id, unknown)
        assert registry.get(client.client_id).status == "referenced"
    assert registry.set_status(client.client_id, "suspended") is True
    assert registry.get(client.client_id).status == "suspended"
    assert registry.set_status("no-such-client", "withdrawn") is False
