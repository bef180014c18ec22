"""The callers of the security tests: the patient (owner), the physician who writes their documents, a
physician they blocked, another physician, a pharmacist, an emergency physician, over real tokens."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
import requests

from fhir_server.auth.backend_client import register
from fhir_server.auth.clients import ClientRegistry

from ..access.test_record_rules import LOINC, PATCH, SCOPES, TYPES, VISIBILITY, consent  # noqa: F401
from ..api.client import HEADERS, INS, JSON  # noqa: F401
from ..auth.test_patients import REDIRECT, activated, code_from, exchange, pkce, sign_in

RPPS = "urn:oid:1.2.250.1.71.4.2.1"
RENEW_AFTER = 120  # seconds: tokens last 5 minutes, and a slow machine makes these tests outlive them


class Renewing(requests.Session):
    """A caller's session whose access token is taken again every RENEW_AFTER seconds."""

    def __init__(self, token: Callable[[], str]) -> None:
        super().__init__()
        self.token, self.taken = token, float("-inf")
        self.headers["Accept"] = JSON

    def request(self, *args, **kwargs) -> requests.Response:
        if time.monotonic() - self.taken > RENEW_AFTER:
            self.headers["Authorization"] = f"Bearer {self.token()}"
            self.taken = time.monotonic()
        return super().request(*args, **kwargs)


def professional(db, base: str, profession: str, purpose: str = "TREAT") -> Renewing:
    """Referenced software acting for a new professional (`.rpps` their IDNPS)."""
    rpps = str(uuid.uuid4().int % 10**11)
    client = register(db, base.removesuffix("/fhir"), f"Software of a {profession}", ["system/*.cruds"],
                      professional={"practitioner": rpps, "profession": profession, "purpose_of_use": purpose})
    session = Renewing(client.token)
    session.rpps = rpps
    return session


def patient_session(base: str, app_id: str, ins: str) -> Renewing:
    """The patient signed in to their app (signing in again when the token is to be renewed)."""
    origin = base.removesuffix("/fhir")

    def token() -> str:
        verifier, challenge = pkce()
        code = code_from(sign_in(origin, app_id, ins, challenge=challenge, scope=SCOPES))
        return exchange(origin, app_id, code, verifier).json()["access_token"]
    return Renewing(token)


@pytest.fixture(scope="module")
def callers(db, base):
    """name -> a professional's session (`.rpps` their IDNPS)."""
    return {"writer": professional(db, base, "10"), "blocked": professional(db, base, "10"),
            "doctor": professional(db, base, "10"), "pharmacist": professional(db, base, "21"),
            "emergency": professional(db, base, "10", "ETREAT")}


@pytest.fixture(scope="module")
def vendor_session(vendor):
    """The referenced software that creates the patients' records (as the insurer's feed would)."""
    with requests.Session() as session:
        session.headers.update(vendor.headers())
        yield session


@pytest.fixture(scope="module")
def owners_app(db):
    return ClientRegistry(db).add_public("Patient app (security)", [REDIRECT], [SCOPES])


def new_record(http, base, database, owners_app) -> tuple[str, str, requests.Session]:
    """(Patient id, INS, the patient's own session) of a new, activated record."""
    patient_id, ins = activated(http, base, database)
    return patient_id, ins, patient_session(base, owners_app.client_id, ins)


def block(owner: requests.Session, base: str, patient_id: str, rpps: str) -> None:
    consent(owner, base, patient_id, {"actor": [
        {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
         "reference": {"identifier": {"system": RPPS, "value": rpps}}}]})


def binary(session: requests.Session, base: str, content: bytes, context: str | None = None) -> str:
    headers = {"Content-Type": "text/plain", **({"X-Security-Context": context} if context else {})}
    created = session.post(f"{base}/Binary", data=content, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def document(session: requests.Session, base: str, subject: dict | None, kind: str = "consultation",
             binary_id: str | None = None, label: str | None = None, **elements) -> requests.Response:
    """Posts a DocumentReference (`subject` as given: any reference form) pointing at a Binary."""
    resource = {"resourceType": "DocumentReference", "status": "current",
                "type": {"coding": [{"system": LOINC, "code": TYPES[kind]}]},
                "content": [{"attachment": {"contentType": "text/plain",
                                            **({"url": f"Binary/{binary_id}"} if binary_id else {"data": "eA=="})}}],
                **({"subject": subject} if subject is not None else {}), **elements}
    if label:
        resource["securityLabel"] = [{"coding": [{"system": VISIBILITY, "code": label}]}]
    return session.post(f"{base}/DocumentReference", json=resource, headers=HEADERS)
