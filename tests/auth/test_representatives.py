"""A minor's legal representative opens the minor's record with their own sign-in, until the minor is 18."""
from __future__ import annotations

import re
import uuid
from datetime import date

import requests

from fhir_server.auth.representatives import is_minor

from ..api.client import HEADERS, INS, JSON
from .test_patients import PASSWORD, REDIRECT, activated, code_from, exchange, pkce, patient_app  # noqa: F401

ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def born(years_ago: int) -> str:
    today = date.today()
    return today.replace(year=today.year - years_ago, day=min(today.day, 28)).isoformat()


def record(http, base, birth_date: str, family: str) -> str:
    return http.post(f"{base}/Patient", headers=HEADERS, json={
        "resourceType": "Patient", "birthDate": birth_date, "name": [{"family": family, "given": ["Léa"]}],
        "identifier": [{"system": INS, "value": str(uuid.uuid4().int % 10**13)}]}).json()["id"]


def link(http, base, child: str, parent_ins: str, code: str = "MTH") -> dict:
    return http.post(f"{base}/RelatedPerson", headers=HEADERS, json={
        "resourceType": "RelatedPerson", "active": True, "patient": {"reference": f"Patient/{child}"},
        "relationship": [{"coding": [{"system": ROLE, "code": code}]}],
        "identifier": [{"system": INS, "value": parent_ins}]}).json()


def choose(origin: str, app_id: str, ins: str, pick) -> requests.Response:
    """Signs in, then picks a record on the choice page (`pick(values) -> value`)."""
    verifier, challenge = pkce()
    query = {"response_type": "code", "client_id": app_id, "redirect_uri": REDIRECT, "scope": "patient/*.rs",
             "state": "xyz", "code_challenge": challenge, "code_challenge_method": "S256"}
    signed_in = requests.post(f"{origin}/oauth/authorize", params=query, data={"ins": ins, "password": PASSWORD},
                              allow_redirects=False)
    assert signed_in.status_code == 200 and "<legend>" in signed_in.text, signed_in.text
    values = re.findall(r'name="act_for" value="([^"]+)"', signed_in.text)
    pending = re.search(r'name="pending" value="([^"]+)"', signed_in.text)[1]
    answer = requests.post(f"{origin}/oauth/authorize", params=query, data={"pending": pending, "act_for": pick(values)},
                           allow_redirects=False)
    answer.verifier = verifier
    answer.choices = values
    return answer


def test_a_parent_opens_their_childs_record_until_the_child_is_of_age(http, base, database, patient_app):
    origin = base.removesuffix("/fhir")
    parent, parent_ins = activated(http, base, database)
    child = record(http, base, born(10), "Enfant")
    grown = record(http, base, born(20), "Majeur")
    stranger = record(http, base, born(8), "Autre")
    relation = link(http, base, child, parent_ins)
    link(http, base, grown, parent_ins, "FTH")
    answer = choose(origin, patient_app.client_id, parent_ins, lambda values: child)
    assert set(answer.choices) == {parent, child}  # the adult child is not offered
    token = exchange(origin, patient_app.client_id, code_from(answer), answer.verifier).json()
    assert token["patient"] == child
    acting = {"Authorization": f"Bearer {token['access_token']}", "Accept": JSON}
    assert requests.get(f"{base}/Patient/{child}", headers=acting).status_code == 200
    assert requests.get(f"{base}/Patient/{child}/$everything", headers=acting).status_code == 200
    assert requests.get(f"{base}/Patient/{stranger}", headers=acting).status_code == 403
    assert requests.get(f"{base}/Patient/{parent}", headers=acting).status_code == 403
    # The representation withdrawn: the live token stops at once.
    assert http.put(f"{base}/RelatedPerson/{relation['id']}", headers=HEADERS,
                    json={**relation, "active": False}).status_code == 200
    ended = requests.get(f"{base}/Patient/{child}", headers=acting)
    assert ended.status_code == 403 and "ended" in ended.text


def test_own_record_and_forged_choices(http, base, database, patient_app):
    origin = base.removesuffix("/fhir")
    parent, parent_ins = activated(http, base, database)
    child = record(http, base, born(5), "Petit")
    grown = record(http, base, born(30), "Grand")
    link(http, base, child, parent_ins, "GUARD")
    link(http, base, grown, parent_ins, "PRN")
    own = choose(origin, patient_app.client_id, parent_ins, lambda values: parent)
    assert exchange(origin, patient_app.client_id, code_from(own), own.verifier).json()["patient"] == parent
    forged = choose(origin, patient_app.client_id, parent_ins, lambda values: grown)
    assert forged.status_code == 400 and "sign in again" in forged.text


def test_majority():
    assert is_minor("2010-06-15", date(2028, 6, 14)) and not is_minor("2010-06-15", date(2028, 6, 15))
    assert is_minor("2008-02-29", date(2026, 2, 28)) and not is_minor("2008-02-29", date(2026, 3, 1))
    assert not is_minor(None) and not is_minor("not a date")


def test_the_right_ends_when_the_minor_comes_of_age(http, base, database, patient_app):
    """The token was given while the child was a minor; once the record says they are 18, it stops."""
    origin = base.removesuffix("/fhir")
    _, parent_ins = activated(http, base, database)
    child = record(http, base, born(17), "Bientotmajeur")
    link(http, base, child, parent_ins, "PRN")
    answer = choose(origin, patient_app.client_id, parent_ins, lambda values: child)
    token = exchange(origin, patient_app.client_id, code_from(answer), answer.verifier).json()["access_token"]
    acting = {"Authorization": f"Bearer {token}", "Accept": JSON}
    assert requests.get(f"{base}/Patient/{child}", headers=acting).status_code == 200
    current = http.get(f"{base}/Patient/{child}", headers=HEADERS).json()
    assert http.put(f"{base}/Patient/{child}", headers=HEADERS, json={**current, "birthDate": born(18)}).status_code == 200
    assert requests.get(f"{base}/Patient/{child}", headers=acting).status_code == 403
