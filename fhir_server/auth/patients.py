"""Patients' own access, first step: a provisional activation code, then a password of their choosing.

Every insured person's record is created for them; they are sent a one-time provisional code, valid six
weeks (DOMAIN.md): creating a Patient puts a letter with its code in the outbox (`welcome`), which the postal
or e-mail service empties with `fhir-server patients letters`; `fhir-server patients activation-code
PATIENT_ID` issues a new one (a lost letter). The patient activates at `/patient/activate` with their INS, the
code and their birth date, and chooses a password (12 characters at least). Codes and passwords are kept as
argon2 hashes only (argon2-cffi, storage/auth.py). Then they sign in with their INS and password
(`sign_in`, from the authorization page of auth/server.py). Five wrong attempts (activation or sign-in)
lock the account for 15 minutes, and a refusal never says which part was wrong.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error

from ..service.search import matching
from ..storage.auth import Letters, PatientAccounts
from ..storage.readers import ServerLookup
from ..storage.resources import ResourceStore

INS = "urn:oid:1.2.250.1.213.1.4.8"
CODE_VALIDITY = timedelta(weeks=6)
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 12
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read from a letter
SIGN_IN = ServerLookup("sign-in")  # finding whose record signs in shows no caller anything
_hasher = PasswordHasher()  # passwords: argon2id with its default (slow) cost
# Codes are random (12 symbols of 32: 60 bits), so guessing them is hopeless even with a cheap hash; a light
# argon2 keeps creating records fast (a 1,000-patient transaction would otherwise spend 2 minutes hashing).
_code_hasher = PasswordHasher(time_cost=1, memory_cost=4096, parallelism=1)


class ActivationRefused(Exception):
    """The activation did not happen; the message is safe to show."""


class Locked(ActivationRefused):
    def __init__(self, until: datetime) -> None:
        super().__init__("Too many attempts: try again later")
        self.until = until


def issue_activation_code(store: ResourceStore, patient_id: str) -> str:
    """A new one-time code for the patient's record (replacing any earlier one)."""
    current = store.current("Patient", patient_id, reader=SIGN_IN)
    if current is None or current.deleted:
        raise ActivationRefused(f"No record Patient/{patient_id}")
    return _new_code(store, patient_id)


def _new_code(store: ResourceStore, patient_id: str) -> str:
    code = "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))
    PatientAccounts(store.db).set_activation(patient_id, _code_hasher.hash(code),
                                             datetime.now(timezone.utc) + CODE_VALIDITY)
    return code


def welcome(store: ResourceStore, patient_id: str) -> None:
    """A Patient was just created (its first version is stored): its provisional code goes out in a letter
    (storage/auth.py Letters)."""
    Letters(store.db).post(secrets.token_urlsafe(12), patient_id, _new_code(store, patient_id))


def activate(store: ResourceStore, ins: str, code: str, birth_date: str, password: str) -> str:
    """Checks the INS, code and birth date, then sets the password; returns the Patient id."""
    if len(password) < MIN_PASSWORD:
        raise ActivationRefused(f"Choose a password of at least {MIN_PASSWORD} characters")
    refusal = "The INS, the code or the birth date does not match"
    patient, account = _account(store, ins, refusal)
    now = datetime.now(timezone.utc)
    activation = account.get("activation")
    if not (activation and activation["expires"] > now and _matches(activation["hash"], code.strip().upper())
            and (patient.resource or {}).get("birthDate") == birth_date.strip()):
        _failed(store, patient.id, account, refusal)
    PatientAccounts(store.db).activate(patient.id, _hasher.hash(password), _round(account))
    return patient.id


def sign_in(store: ResourceStore, ins: str, password: str) -> str:
    """The Patient id of an activated record whose password this is; the same limits as activation."""
    refusal = "The INS or the password does not match"
    patient, account = _account(store, ins, refusal)
    if not account.get("password") or not _matches(account["password"], password):
        _failed(store, patient.id, account, refusal)
    PatientAccounts(store.db).succeeded(patient.id, _round(account))
    return patient.id


def _account(store: ResourceStore, ins: str, refusal: str):
    """(the record with this INS, its account); `refusal` (the same words as a wrong answer) or Locked."""
    ins = ins.strip()
    matches = matching(store, SIGN_IN, "Patient", f"identifier={INS}|{ins}", limit=2) if ins.isalnum() \
        else []
    if len(matches) != 1:
        raise ActivationRefused(refusal)
    account = PatientAccounts(store.db).get(matches[0].id)
    if account.get("locked_until") and account["locked_until"] > datetime.now(timezone.utc):
        raise Locked(account["locked_until"])
    return matches[0], account


def _failed(store: ResourceStore, patient_id: str, account: dict, message: str) -> None:
    """Counts a wrong attempt, locking the account at the fifth of its round (however many workers or nodes
    took them at once: storage/auth.py PatientAccounts); raises."""
    accounts = PatientAccounts(store.db)
    if accounts.count_failure(patient_id, _round(account)) >= LOCK_AFTER:
        locked = datetime.now(timezone.utc) + LOCK_FOR
        accounts.lock(patient_id, locked, _round(account))
        raise Locked(locked)
    raise ActivationRefused(message)


def _round(account: dict) -> str:
    return account.get("round", PatientAccounts.FIRST_ROUND)


def _matches(code_hash: str, code: str) -> bool:
    try:
        return _hasher.verify(code_hash, code)
    except Argon2Error:
        return False
