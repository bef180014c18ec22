"""Patients open their record with a provisional code and their birth date, and choose a password."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import requests

from tests.conftest import REPO_ROOT

from ..api.client import HEADERS, INS

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
