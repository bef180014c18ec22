"""Patients' own access, first step: a provisional activation code, then a password of their choosing.

Every insured person's record is created for them; they are sent a one-time provisional code, valid six
weeks (DOMAIN.md). Until notifications exist, `fhir-server patients activation-code PATIENT_ID` issues one
and prints it, standing in for the letter. The patient activates at `/patient/activate` with their INS, the
code and their birth date, and chooses a password (12 characters at least). Codes and passwords are kept as
argon2 hashes only (argon2-cffi, storage/auth.py). Five wrong attempts lock the account for 15 minutes,
and a refusal never says which of the INS, the code or the birth date was wrong. (Signing in with the
password and patients' own tokens are the next step.)
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error

from ..service.search import matching
from ..storage.auth import PatientAccounts
from ..storage.resources import ResourceStore

INS = "urn:oid:1.2.250.1.213.1.4.8"
CODE_VALIDITY = timedelta(weeks=6)
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 12
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read from a letter
_hasher = PasswordHasher()


class ActivationRefused(Exception):
    """The activation did not happen; the message is safe to show."""


class Locked(ActivationRefused):
    def __init__(self, until: datetime) -> None:
        super().__init__("Too many attempts: try again later")
        self.until = until


def issue_activation_code(store: ResourceStore, patient_id: str) -> str:
    """A new one-time code for the patient's record (replacing any earlier one)."""
    current = store.current("Patient", patient_id)
    if current is None or current.deleted:
        raise ActivationRefused(f"No record Patient/{patient_id}")
    code = "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))
    PatientAccounts(store.db).set_activation(patient_id, _hasher.hash(code),
                                             datetime.now(timezone.utc) + CODE_VALIDITY)
    return code


def activate(store: ResourceStore, ins: str, code: str, birth_date: str, password: str) -> str:
    """Checks the INS, code and birth date, then sets the password; returns the Patient id."""
    if len(password) < MIN_PASSWORD:
        raise ActivationRefused(f"Choose a password of at least {MIN_PASSWORD} characters")
    matches = matching(store, "Patient", f"identifier={INS}|{ins.strip()}", limit=2) if ins.strip().isalnum() else []
    patient = matches[0] if len(matches) == 1 else None
    accounts = PatientAccounts(store.db)
    if patient is None:
        raise ActivationRefused("The INS, the code or the birth date does not match")
    account = accounts.get(patient.id)
    now = datetime.now(timezone.utc)
    if account.get("locked_until") and account["locked_until"] > now:
        raise Locked(account["locked_until"])
    activation = account.get("activation")
    if not (activation and activation["expires"] > now and _matches(activation["hash"], code.strip().upper())
            and (patient.resource or {}).get("birthDate") == birth_date.strip()):
        failures = account.get("failures", 0) + 1
        locked = now + LOCK_FOR if failures >= LOCK_AFTER else None
        accounts.failed(patient.id, 0 if locked else failures, locked)
        if locked:
            raise Locked(locked)
        raise ActivationRefused("The INS, the code or the birth date does not match")
    accounts.activate(patient.id, _hasher.hash(password))
    return patient.id


def _matches(code_hash: str, code: str) -> bool:
    try:
        return _hasher.verify(code_hash, code)
    except Argon2Error:
        return False
