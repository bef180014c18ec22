"""SMART v2 scopes: what a token's scopes name, what a client may be granted, what a token allows."""
from __future__ import annotations

import pytest

from fhir_server.auth.scopes import Grants, Scope, granted, parse_scope


@pytest.mark.parametrize("text, scope", [
    ("system/Patient.rs", Scope("system", "Patient", "rs")),
    ("user/*.cruds", Scope("user", "*", "cruds")),
    ("patient/DocumentReference.read", Scope("patient", "DocumentReference", "rs")),  # SMART v1
    ("system/Binary.write", Scope("system", "Binary", "cud")),
    ("system/*.*", Scope("system", "*", "cruds")),
    ("openid", None), ("launch", None), ("system/Patient.", None), ("system/Patient.sr", None),
    ("admin/Patient.rs", None), ("system/patient.rs", None), ("system/Patient.rs extra", None),
])
def test_a_scope_is_read_or_refused(text, scope):
    assert parse_scope(text) == scope


def test_what_is_granted_is_what_was_asked_narrowed_to_what_is_allowed():
    allowed = ["system/Patient.rs", "system/DocumentReference.cruds", "user/*.r"]
    assert granted(["system/Patient.cruds", "system/DocumentReference.rs", "user/Consent.rs", "system/List.rs",
                    "openid", "system/Patient.rs"], allowed) == [
        "system/Patient.rs", "system/DocumentReference.rs", "user/Consent.r"]
    assert granted(["patient/Patient.rs"], allowed) == []  # another context: nothing


def test_a_token_allows_what_its_scopes_of_its_context_hold():
    software = Grants(["openid", "system/Patient.rs", "system/DocumentReference.c", "patient/*.cruds"],
                      patient_context=False)
    assert software.allows("Patient", "r") and software.allows("Patient", "rs")
    assert not software.allows("Patient", "u") and not software.allows("Consent", "r")
    assert software.allows("DocumentReference", "c") and not software.allows("DocumentReference", "cr")
    patient = Grants(["system/*.cruds", "patient/Consent.cruds"], patient_context=True)
    assert patient.allows("Consent", "cud") and not patient.allows("Patient", "r")  # system/ is no patient's


def test_a_scope_cannot_be_changed_once_read():
    with pytest.raises(AttributeError):
        parse_scope("system/Patient.rs").permissions = "cruds"  # type: ignore[misc]
