"""Patients open their record with a provisional code and their birth date, and choose a password."""
from __future__ import annotations

import base64
import json
import hashlib
import os
import subprocess
import sys
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from fhir_server.auth.clients import ClientRegistry, InvalidRegistration
from tests.conftest import REPO_ROOT

from ..api.client import HEADERS, INS, JSON

PASSWORD = "correct horse battery"


def new_patient(http, base) -> tuple[str, str]:
    """(id, INS) of a new record."""
    ins = str(uuid.uuid4().int % 10**13)
    created = http.post(f"{base}/Patient", headers=HEADERS, json={
        "resourceType": "Patient", "identifier": [{"system": INS, "value": ins}], "birthDate": "1980-04-12"})
    return created.json()["id"], ins


def activation_code(database, patient_id: str) -> subprocess.CompletedProcess:
    uri, name = database
    return subprocess.run([sys.executable, "-m", "fhir_server.cli", "patients", "activation-code", patient_id],
                          env={**os.environ, "MONGODB_URI": uri, "FHIR_DATABASE": name}, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def activate(origin: str, ins: str, code: str, birth_date: str = "1980-04-12",
             password: str = PASSWORD) -> requests.Response:
    return requests.post(f"{origin}/patient/activate", data={"ins": ins, "code": code, "birth_date": birth_date,
                                                             "password": password})


def test_activation_with_the_code_and_birth_date(http, base, database, db):
    origin = base.removesuffix("/fhir")
    patient_id, ins = new_patient(http, base)
    issued = activation_code(database, patient_id)
    assert issued.returncode == 0, issued.stderr
    code = issued.stdout.strip()
    assert len(code) == 14 and code.count("-") == 2
    page = requests.get(f"{origin}/patient/activate")
    assert page.status_code == 200 and 'lang="en"' in page.text
    for field in ("ins", "code", "birth_date", "password"):
        assert f'<label for="{field}"' in page.text and f'id="{field}"' in page.text
    short = activate(origin, ins, code, password="short")
    assert short.status_code == 400 and "12 characters" in short.text
    done = activate(origin, ins, code.lower())
    assert done.status_code == 200 and "password is set" in done.text
    account = db["patient_accounts"].find_one({"_id": patient_id})
    assert account["password"].startswith("$argon2") and "activation" not in account
    assert PASSWORD not in str(account) and code not in str(account)
    assert activate(origin, ins, code).status_code == 400  # the code is used up
    assert activation_code(database, "no-such-patient").returncode == 1


def test_wrong_attempts_are_limited_and_say_nothing_about_what_was_wrong(http, base, database):
    origin = base.removesuffix("/fhir")
    patient_id, ins = new_patient(http, base)
    code = activation_code(database, patient_id).stdout.strip()
    wrong_date = activate(origin, ins, code, birth_date="1980-04-13")
    wrong_code = activate(origin, ins, "AAAA-AAAA-AAAA")
    unknown = activate(origin, "0000000000000", code)
    messages = {r.text.split('role="alert">')[1].split("</p>")[0] for r in (wrong_date, wrong_code, unknown)}
    assert {r.status_code for r in (wrong_date, wrong_code, unknown)} == {400} and len(messages) == 1
    for _ in range(2):
        assert activate(origin, ins, "AAAA-AAAA-AAAA").status_code == 400
    locked = activate(origin, ins, "AAAA-AAAA-AAAA")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 800
    assert activate(origin, ins, code).status_code == 429  # even the right code, until the lock ends


REDIRECT = "http://127.0.0.1:9/callback"


def pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(os.urandom(40)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.fixture(scope="module")
def patient_app(db):
    return ClientRegistry(db).add_public("Mon espace santé (test app)", [REDIRECT], ["patient/*.rs"])


def activated(http, base, database) -> tuple[str, str]:
    patient_id, ins = new_patient(http, base)
    code = activation_code(database, patient_id).stdout.strip()
    assert activate(base.removesuffix("/fhir"), ins, code).status_code == 200
    return patient_id, ins


def sign_in(origin: str, app_id: str, ins: str, password: str = PASSWORD, challenge: str | None = None,
            **params) -> requests.Response:
    query = {"response_type": "code", "client_id": app_id, "redirect_uri": REDIRECT, "scope": "patient/*.rs",
             "state": "xyz", "code_challenge": challenge or pkce()[1], "code_challenge_method": "S256", **params}
    page = requests.get(f"{origin}/oauth/authorize", params=query)
    assert page.status_code == 200 and '<label for="password"' in page.text, page.text
    return requests.post(f"{origin}/oauth/authorize", params=query, data={"ins": ins, "password": password},
                         allow_redirects=False)


def code_from(response: requests.Response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert response.headers["Location"].startswith(REDIRECT) and query["state"] == ["xyz"]
    return query["code"][0]


def exchange(origin: str, app_id: str, code: str, verifier: str) -> requests.Response:
    return requests.post(f"{origin}/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": app_id,
        "code_verifier": verifier})


def test_a_patient_signs_in_and_reads_their_own_record_only(http, base, database, patient_app):
    origin = base.removesuffix("/fhir")
    patient_id, ins = activated(http, base, database)
    other_id, _ = new_patient(http, base)
    verifier, challenge = pkce()
    code = code_from(sign_in(origin, patient_app.client_id, ins, challenge=challenge))
    assert exchange(origin, patient_app.client_id, code, "wrong-verifier-" + "x" * 40).status_code == 400
    code = code_from(sign_in(origin, patient_app.client_id, ins, challenge=challenge))
    answer = exchange(origin, patient_app.client_id, code, verifier)
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert token["patient"] == patient_id and token["scope"] == "patient/*.rs"
    assert exchange(origin, patient_app.client_id, code, verifier).status_code == 400  # a code works once
    mine = {"Authorization": f"Bearer {token['access_token']}", "Accept": JSON}
    assert requests.get(f"{base}/Patient/{patient_id}", headers=mine).json()["id"] == patient_id
    assert requests.get(f"{base}/Patient/{patient_id}/$everything", headers=mine).json()["total"] >= 1
    for refused in (f"{base}/Patient/{other_id}", f"{base}/Patient/{other_id}/$everything"):
        assert requests.get(refused, headers=mine).status_code == 403, refused
    assert requests.post(f"{base}/Patient", json={"resourceType": "Patient"},
                         headers={**mine, "Content-Type": JSON}).status_code == 403


def _document(http, base, patient_id: str, content: bytes) -> tuple[str, str]:
    """(DocumentReference id, Binary id) of a document about the patient."""
    binary = http.post(f"{base}/Binary", headers=HEADERS, json={
        "resourceType": "Binary", "contentType": "text/plain", "data": base64.b64encode(content).decode()}).json()
    document = http.post(f"{base}/DocumentReference", headers=HEADERS, json={
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
        "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{binary['id']}"}}]}).json()
    return document["id"], binary["id"]


def test_a_patients_token_reads_and_searches_their_record_and_nothing_else(http, base, database, patient_app):
    origin = base.removesuffix("/fhir")
    patient_id, ins = activated(http, base, database)
    other_id, _ = new_patient(http, base)
    own_document, own_binary = _document(http, base, patient_id, b"mine")
    other_document, other_binary = _document(http, base, other_id, b"theirs")
    verifier, challenge = pkce()
    token = exchange(origin, patient_app.client_id,
                     code_from(sign_in(origin, patient_app.client_id, ins, challenge=challenge)), verifier).json()
    mine = {"Authorization": f"Bearer {token['access_token']}", "Accept": JSON}

    def ids(resource_type: str, **params) -> list[str]:
        bundle = requests.get(f"{base}/{resource_type}", params=params, headers=mine)
        assert bundle.status_code == 200, bundle.text
        return [e["resource"]["id"] for e in bundle.json().get("entry", [])]
    assert ids("Patient") == [patient_id]
    assert ids("Patient", _id=other_id) == []
    assert ids("DocumentReference") == [own_document]
    assert ids("DocumentReference", patient=f"Patient/{other_id}") == []  # ANDed with their own record
    assert requests.get(f"{base}/DocumentReference/{own_document}", headers=mine).status_code == 200
    assert requests.get(f"{base}/DocumentReference/{other_document}", headers=mine).status_code == 404
    assert requests.get(f"{base}/Binary/{own_binary}", headers={**mine, "Accept": "*/*"}).content == b"mine"
    assert requests.get(f"{base}/Binary/{other_binary}", headers=mine).status_code == 404
    assert requests.get(f"{base}/DocumentReference", params={"_include": "DocumentReference:subject"},
                        headers=mine).status_code == 403
    assert requests.get(f"{base}/Practitioner", headers=mine).status_code == 403
    assert requests.post(base, json={"resourceType": "Bundle", "type": "batch"},
                         headers={**mine, "Content-Type": JSON}).status_code == 403


def test_sign_in_refusals(http, base, database, patient_app, db):
    origin = base.removesuffix("/fhir")
    _, ins = activated(http, base, database)
    wrong = sign_in(origin, patient_app.client_id, ins, password="not the password at all")
    assert wrong.status_code == 400 and 'role="alert"' in wrong.text
    query = {"response_type": "code", "client_id": patient_app.client_id, "redirect_uri": REDIRECT,
             "scope": "patient/*.rs", "code_challenge": pkce()[1], "code_challenge_method": "S256"}
    for bad in ({"redirect_uri": "https://attacker.example/cb"}, {"client_id": "nobody"},
                {"code_challenge": None}, {"code_challenge_method": "plain"}):
        params = {k: v for k, v in {**query, **bad}.items() if v is not None}
        response = requests.get(f"{origin}/oauth/authorize", params=params, allow_redirects=False)
        # Refused on the server's own page, never redirected (an unchecked redirect URI could be anyone's).
        assert response.status_code == 400 and "Location" not in response.headers, bad
        assert 'role="alert"' in response.text and '<label for="password"' not in response.text
    for _ in range(4):
        sign_in(origin, patient_app.client_id, ins, password="still not the password")
    assert sign_in(origin, patient_app.client_id, ins).status_code == 429  # locked, even with the password
    software = ClientRegistry(db).add_public("Suspended app", [REDIRECT], ["patient/*.rs"])
    ClientRegistry(db).set_status(software.client_id, "suspended")
    suspended = requests.get(f"{origin}/oauth/authorize", params={**query, "client_id": software.client_id},
                             allow_redirects=False)
    assert suspended.status_code == 400 and "Location" not in suspended.headers


def test_patient_apps_register_with_patient_scopes_and_safe_redirects(db):
    registry = ClientRegistry(db)
    with pytest.raises(InvalidRegistration, match="patient/"):
        registry.add_public("App", [REDIRECT], ["system/*.rs"])
    with pytest.raises(InvalidRegistration, match="https"):
        registry.add_public("App", ["http://attacker.example/cb"], ["patient/*.rs"])


def letters(database) -> list[dict]:
    uri, name = database
    taken = subprocess.run([sys.executable, "-m", "fhir_server.cli", "patients", "letters"],
                           env={**os.environ, "MONGODB_URI": uri, "FHIR_DATABASE": name}, cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=60)
    assert taken.returncode == 0, taken.stderr
    return [json.loads(line) for line in taken.stdout.splitlines()]


def test_a_new_record_sends_its_activation_letter(http, base, database, db):
    origin = base.removesuffix("/fhir")
    patient_id, ins = new_patient(http, base)
    nir = str(uuid.uuid4().int % 10**13)
    answer = http.post(base, headers=HEADERS, json={"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Patient"}, "resource": {
            "resourceType": "Patient", "identifier": [{"system": INS, "value": nir}], "birthDate": "2001-01-01"}}]})
    from_transaction = answer.json()["entry"][0]["response"]["location"].split("/")[1]
    sent = {letter["patient"]: letter["code"] for letter in letters(database)}
    assert {patient_id, from_transaction} <= set(sent)
    assert letters(database) == [] and db["letters"].count_documents({}) == 0  # taken out of the outbox
    assert activate(origin, ins, sent[patient_id]).status_code == 200
    assert activate(origin, nir, sent[from_transaction], birth_date="2001-01-01").status_code == 200
    updated = http.put(f"{base}/Patient/{patient_id}", headers=HEADERS,
                       json={"resourceType": "Patient", "id": patient_id, "birthDate": "1980-04-12"})
    assert updated.status_code == 200 and patient_id not in {letter["patient"] for letter in letters(database)}


def test_a_patient_adds_documents_to_their_own_record_only(http, base, database, db):
    origin = base.removesuffix("/fhir")
    writer = ClientRegistry(db).add_public("Patient app that writes", [REDIRECT], ["patient/*.cruds"])
    reader = ClientRegistry(db).add_public("Patient app that reads", [REDIRECT], ["patient/*.rs"])
    profile = ClientRegistry(db).add_public("Patient app for the profile", [REDIRECT], ["patient/Patient.rs"])
    patient_id, ins = activated(http, base, database)
    other_id, _ = new_patient(http, base)
    other_document, _ = _document(http, base, other_id, b"theirs")

    def token(app) -> dict:
        verifier, challenge = pkce()
        signed_in = sign_in(origin, app.client_id, ins, challenge=challenge, scope=" ".join(app.scopes))
        answer = exchange(origin, app.client_id, code_from(signed_in), verifier).json()
        return {"Authorization": f"Bearer {answer['access_token']}", "Content-Type": JSON, "Accept": JSON}
    mine, read_only = token(writer), token(reader)
    profile_only = token(profile)  # its scopes name the Patient alone: no search of the record's documents
    assert requests.get(f"{base}/Patient/{patient_id}", headers=profile_only).status_code == 200
    refused = requests.get(f"{base}/DocumentReference", params={"patient": patient_id}, headers=profile_only)
    assert refused.status_code == 403 and "do not allow 's' on DocumentReference" in refused.text, refused.text
    binary = requests.post(f"{base}/Binary", headers=mine, json={
        "resourceType": "Binary", "contentType": "text/plain", "data": base64.b64encode(b"my notes").decode()})
    assert binary.status_code == 201, binary.text

    def document(subject: str) -> dict:
        return {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": subject},
                "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{binary.json()['id']}"}}]}
    created = requests.post(f"{base}/DocumentReference", headers=mine, json=document(f"Patient/{patient_id}"))
    assert created.status_code == 201, created.text
    assert requests.post(f"{base}/DocumentReference", headers=read_only,
                         json=document(f"Patient/{patient_id}")).status_code == 403  # no `c` in its scopes
    assert requests.post(f"{base}/DocumentReference", headers=mine,
                         json=document(f"Patient/{other_id}")).status_code == 403
    assert requests.post(f"{base}/DocumentReference", headers={**mine, "If-None-Exist": "status=current"},
                         json=document(f"Patient/{patient_id}")).status_code == 403
    moved = {**created.json(), "subject": {"reference": f"Patient/{other_id}"}}
    assert requests.put(f"{base}/DocumentReference/{created.json()['id']}", headers=mine, json=moved).status_code == 403
    other = http.get(f"{base}/DocumentReference/{other_document}", headers=HEADERS).json()
    assert requests.put(f"{base}/DocumentReference/{other_document}", headers=mine,
                        json={**other, "status": "entered-in-error"}).status_code == 404
    hidden = requests.delete(f"{base}/DocumentReference/{other_document}", headers=mine)
    unknown = requests.delete(f"{base}/DocumentReference/no-such-document", headers=mine)
    assert hidden.status_code == unknown.status_code == 200  # deleting what one may not see: as deleting nothing
    assert hidden.json()["issue"][0]["diagnostics"] == unknown.json()["issue"][0]["diagnostics"].replace(
        "no-such-document", other_document)
    assert requests.get(f"{base}/Binary/{binary.json()['id']}", headers={**mine, "Accept": "*/*"}).content == b"my notes"
    assert requests.delete(f"{base}/DocumentReference/{created.json()['id']}", headers=mine).status_code == 200
    assert requests.post(f"{base}/Practitioner", headers=mine, json={"resourceType": "Practitioner"}).status_code == 403
    assert http.get(f"{base}/DocumentReference/{other_document}", headers=HEADERS).json()["status"] == "current"
