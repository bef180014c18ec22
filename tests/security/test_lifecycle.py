"""A document's life through FHIR transactions, as every channel's mapper expresses it (service/lifecycle.py):
replaced by its author (the old one superseded in the same transaction), withdrawn by its author (then seen
by its author alone), and refused in words a sender understands otherwise."""
from __future__ import annotations

import uuid

import pytest

from fhir_server.errors import DocumentRefused

from .conftest import HEADERS, LOINC, TYPES, document, new_record

SYSTEM = "urn:oid:1.2.250.1.999.1"


@pytest.fixture()
def record(vendor_session, base, database, owners_app, callers):
    """A record with one current document of the writer's, known by its unique id (masterIdentifier)."""
    patient_id, ins, owner = new_record(vendor_session, base, database, owners_app)
    unique = f"{SYSTEM}.{uuid.uuid4().int % 10**12}"
    created = document(callers["writer"], base, {"reference": f"Patient/{patient_id}"}, "lab",
                       masterIdentifier={"system": "urn:ietf:rfc:3986", "value": unique})
    assert created.status_code == 201, created.text
    return {"patient": patient_id, "owner": owner, "document": created.json()["id"], "unique": unique}


def transaction(session, base, *entries: dict):
    return session.post(base, headers=HEADERS, json={"resourceType": "Bundle", "type": "transaction",
                                                     "entry": list(entries)})


def replacement(patient_id: str, target: dict, description: str = "corrected") -> dict:
    return {"request": {"method": "POST", "url": "DocumentReference"}, "resource": {
        "resourceType": "DocumentReference", "status": "current", "description": description,
        "type": {"coding": [{"system": LOINC, "code": TYPES["lab"]}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "relatesTo": [{"code": "replaces", "target": target}],
        "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}}


def withdrawal(session, base, unique: str, patient_id: str):
    """What a withdrawal looks like in FHIR (HL7 v2 T04, ORC-1 CA): the document, entered-in-error."""
    resource = {"resourceType": "DocumentReference", "status": "entered-in-error",
                "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": unique},
                "type": {"coding": [{"system": LOINC, "code": TYPES["lab"]}]},
                "subject": {"reference": f"Patient/{patient_id}"},
                "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}
    criteria = f"identifier=urn:ietf:rfc:3986|{unique}"
    return transaction(session, base, {"request": {"method": "PUT", "url": f"DocumentReference?{criteria}"},
                                       "resource": resource})


def refusal(response, reason: str) -> str:
    assert response.status_code == DocumentRefused.REASONS[reason][0], response.text
    issue = response.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == reason
    assert issue["details"]["text"] == DocumentRefused.REASONS[reason][1]  # the XDS code, for that channel
    return issue["diagnostics"]


def status(session, base, document_id: str) -> str:
    return session.get(f"{base}/DocumentReference/{document_id}").json()["status"]


@pytest.mark.parametrize("named", ["conditional reference", "identifier"])
def test_the_author_replaces_a_document_named_by_its_unique_id(base, callers, record, named):
    target = {"reference": f"DocumentReference?identifier=urn:ietf:rfc:3986|{record['unique']}"} \
        if named == "conditional reference" else {"identifier": {"system": "urn:ietf:rfc:3986",
                                                                 "value": record["unique"]}}
    writer = callers["writer"]
    answer = transaction(writer, base, replacement(record["patient"], target))
    assert answer.status_code == 200, answer.text
    new_id = answer.json()["entry"][0]["response"]["location"].split("/")[1]
    new = writer.get(f"{base}/DocumentReference/{new_id}").json()
    assert new["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{record['document']}"
    assert status(writer, base, record["document"]) == "superseded"
    assert status(callers["doctor"], base, new_id) == "current"
    again = transaction(writer, base, replacement(record["patient"], {"reference": f"DocumentReference/"
                                                                                   f"{record['document']}"}))
    assert "replaced or withdrawn already" in refusal(again, "not-current")


def test_a_replacement_is_refused_with_the_reason(base, callers, record, vendor_session, database, owners_app):
    writer, doctor = callers["writer"], callers["doctor"]
    unknown = transaction(writer, base, replacement(record["patient"], {
        "reference": "DocumentReference?identifier=urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.404"}))
    message = refusal(unknown, "unknown")
    assert "Bundle.entry[0]" in message and "urn:oid:1.2.250.1.999.404" in message and "stored first" in message
    not_theirs = transaction(doctor, base, replacement(record["patient"], {
        "reference": f"DocumentReference/{record['document']}"}))
    assert "Only the author" in refusal(not_theirs, "not-author")
    other_patient, _, _ = new_record(vendor_session, base, database, owners_app)
    elsewhere = transaction(writer, base, replacement(other_patient, {
        "reference": f"DocumentReference/{record['document']}"}))
    assert "another patient's record" in refusal(elsewhere, "other-record")
    assert status(writer, base, record["document"]) == "current"  # nothing was written
    listed = writer.get(f"{base}/DocumentReference", params={"patient": record["patient"]}).json()
    assert [e["resource"]["id"] for e in listed.get("entry", [])] == [record["document"]]


def test_the_author_withdraws_a_document_which_only_they_see_afterwards(base, callers, record):
    writer, doctor, owner = callers["writer"], callers["doctor"], record["owner"]
    assert "Only the author" in refusal(withdrawal(doctor, base, record["unique"], record["patient"]), "not-author")
    assert status(doctor, base, record["document"]) == "current"
    answer = withdrawal(writer, base, record["unique"], record["patient"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["entry"][0]["response"]["location"].startswith(f"DocumentReference/{record['document']}/")
    assert status(writer, base, record["document"]) == "entered-in-error"
    for reader in (doctor, owner):
        assert reader.get(f"{base}/DocumentReference/{record['document']}").status_code == 404
        found = reader.get(f"{base}/DocumentReference", params={"patient": record["patient"]}).json()
        assert found["total"] == 0
    assert writer.get(f"{base}/DocumentReference", params={"patient": record["patient"]}).json()["total"] == 1


def test_withdrawing_what_is_not_stored_stores_nothing(base, callers, record):
    writer = callers["writer"]
    missing = f"{SYSTEM}.{uuid.uuid4().int % 10**12}"
    assert "nothing to withdraw" in refusal(withdrawal(writer, base, missing, record["patient"]), "unknown")
    single = writer.put(f"{base}/DocumentReference", params={"identifier": f"urn:ietf:rfc:3986|{missing}"},
                        headers=HEADERS, json={"resourceType": "DocumentReference", "status": "entered-in-error",
                                               "subject": {"reference": f"Patient/{record['patient']}"},
                                               "content": [{"attachment": {"contentType": "text/plain",
                                                                           "data": "eA=="}}]})
    assert "nothing to withdraw" in refusal(single, "unknown")
    found = writer.get(f"{base}/DocumentReference", params={"identifier": f"urn:ietf:rfc:3986|{missing}"}).json()
    assert found["total"] == 0


def test_a_single_create_replaces_as_a_transaction_does(base, callers, record):
    writer = callers["writer"]
    unknown = writer.post(f"{base}/DocumentReference", headers=HEADERS, json=replacement(record["patient"], {
        "identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.404"}})["resource"])
    assert refusal(unknown, "unknown").startswith("DocumentReference.relatesTo[0].target: no document")
    created = writer.post(f"{base}/DocumentReference", headers=HEADERS, json=replacement(record["patient"], {
        "reference": f"DocumentReference/{record['document']}"})["resource"])
    assert created.status_code == 201, created.text
    assert created.headers["Location"].split("/_history/")[0].endswith(f"DocumentReference/{created.json()['id']}")
    assert created.json()["relatesTo"][0]["target"]["reference"] == f"DocumentReference/{record['document']}"
    assert status(writer, base, record["document"]) == "superseded"


def test_an_identifier_every_version_shares_names_the_version_whose_unique_id_it_is(base, callers, record):
    """A CDA setId is kept as an identifier by every version, and is often the first version's id."""
    writer, unique = callers["writer"], record["unique"]
    second = replacement(record["patient"], {"reference": f"DocumentReference/{record['document']}"})
    second["resource"]["identifier"] = [{"system": "urn:ietf:rfc:3986", "value": unique}]
    answer = transaction(writer, base, second)
    assert answer.status_code == 200, answer.text
    new_id = answer.json()["entry"][0]["response"]["location"].split("/")[1]
    assert withdrawal(writer, base, unique, record["patient"]).status_code == 200
    assert status(writer, base, record["document"]) == "entered-in-error"
    assert status(writer, base, new_id) == "current"


def test_an_identifier_no_document_holds_as_its_unique_id_stays_ambiguous(base, callers, record):
    """Two documents sharing an identifier that is neither's unique id: a conditional update is a 412, as R4
    says, rather than the creation of a third."""
    writer, shared = callers["writer"], f"{SYSTEM}.{uuid.uuid4().int % 10**12}"
    for _ in range(2):
        created = document(writer, base, {"reference": f"Patient/{record['patient']}"}, "lab",
                           identifier=[{"system": "urn:ietf:rfc:3986", "value": shared}])
        assert created.status_code == 201, created.text
    ambiguous = withdrawal(writer, base, shared, record["patient"])
    assert ambiguous.status_code == 412, ambiguous.text
    found = writer.get(f"{base}/DocumentReference", params={"identifier": f"urn:ietf:rfc:3986|{shared}"}).json()
    assert found["total"] == 2 and {e["resource"]["status"] for e in found["entry"]} == {"current"}
