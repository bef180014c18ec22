"""Which record a resource joins (access/membership.py): a document whose subject is a Patient contained in it (as
CDA and XDS.b mappings write them), named by INS in the transaction that creates it, on another server, or a
Binary's securityContext; the stored Patient it names, no record when it names none, or a refusal saying why."""
from __future__ import annotations

import uuid

import pytest

from ..api.client import HEADERS, INS, LOINC, post


def document(subject: dict) -> dict:
    return {"resourceType": "DocumentReference", "status": "current", "contained": [subject],
            "subject": {"reference": f"#{subject['id']}"}, "type": {"coding": [{"system": LOINC, "code": "11488-4"}]},
            "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]}


def test_a_contained_patient_names_the_record_by_its_identifiers(http, base):
    ins = str(uuid.uuid4().int % 10**15)
    patient = post(http, base, {"resourceType": "Patient", "identifier": [{"system": INS, "value": ins}]})["id"]
    contained = {"resourceType": "Patient", "id": "p",
                 "identifier": [{"system": "urn:oid:1.2.250.1.999.1", "value": "local-42"},  # unknown: skipped
                                {"system": INS, "value": ins}]}
    created = post(http, base, document(contained))
    found = http.get(f"{base}/DocumentReference", params={"patient": patient}, headers=HEADERS).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [created["id"]]


def test_a_contained_patient_no_stored_patient_matches_is_refused(http, base):
    unknown = {"resourceType": "Patient", "id": "p",
               "identifier": [{"system": INS, "value": str(uuid.uuid4().int % 10**15)}]}
    response = http.post(f"{base}/DocumentReference", json=document(unknown), headers=HEADERS)
    assert response.status_code == 422, response.text
    assert "contained Patient #p matches no Patient" in response.text
    without = {"resourceType": "Patient", "id": "p", "identifier": [{"system": INS}], "name": [{"family": "X"}]}
    response = http.post(f"{base}/DocumentReference", json=document(without), headers=HEADERS)
    assert response.status_code == 422 and "matches no Patient" in response.text, response.text


def test_a_contained_subject_that_is_no_patient_is_not_resolved_as_one(http, base):
    """A contained Group is no patient: the document is stored in no patient's record (it is not refused as a
    Patient that matches none)."""
    group = {"resourceType": "Group", "id": "p", "type": "person", "actual": False}
    response = http.post(f"{base}/DocumentReference", json=document(group), headers=HEADERS)
    assert response.status_code == 201, response.text


RPPS = "urn:oid:1.2.250.1.71.4.2.1"


def in_record(http, base, resource_type: str, patient_id: str) -> list[str]:
    """The ids `patient=` finds in that patient's record."""
    found = http.get(f"{base}/{resource_type}", params={"patient": patient_id}, headers=HEADERS).json()
    return [e["resource"]["id"] for e in found.get("entry", [])]


def transaction(http, base, *entries: tuple[str, dict]):
    """POSTs a transaction of (fullUrl, resource) creations; the response."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
        for url, resource in entries]}
    return http.post(base, json=bundle, headers=HEADERS)


def test_patients_created_in_the_same_transaction_are_found_by_their_ins(http, base):
    """A document naming its patient by INS only joins the record of the Patient the same transaction creates
    with that INS (an MHD or HL7 feed sends the Patient with its first document), and no other Patient's: here
    two patients, each with their document."""
    def note(ins: str) -> dict:
        return {"resourceType": "DocumentReference", "status": "current",
                "subject": {"type": "Patient", "identifier": {"system": INS, "value": ins}},
                "type": {"coding": [{"system": LOINC, "code": "11488-4"}]},
                "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]}
    first, second = (str(uuid.uuid4().int % 10**15) for _ in range(2))
    response = transaction(http, base, *((f"urn:uuid:{uuid.uuid4()}", resource) for resource in (
        note(first), {"resourceType": "Patient", "identifier": [{"system": INS, "value": first}]},
        note(second), {"resourceType": "Patient", "identifier": [{"system": INS, "value": second}]})))
    assert response.status_code == 200, response.text
    first_note, first_id, second_note, second_id = (e["response"]["location"].split("/")[1]
                                                    for e in response.json()["entry"])
    assert in_record(http, base, "DocumentReference", first_id) == [first_note]
    assert in_record(http, base, "DocumentReference", second_id) == [second_note]


def test_an_identifier_held_by_another_resource_of_the_transaction_names_no_patient(http, base):
    """Only Patients are looked up by identifier: the author's RPPS, held by a Practitioner written in the same
    transaction, does not make that Practitioner a second patient of the document (nor its record)."""
    patient_id = post(http, base, {"resourceType": "Patient",
                                   "identifier": [{"system": INS, "value": str(uuid.uuid4().int % 10**15)}]})["id"]
    rpps = str(uuid.uuid4().int % 10**11)
    practitioner = {"resourceType": "Practitioner", "identifier": [{"system": RPPS, "value": rpps}],
                    "name": [{"family": "Author"}]}
    note = {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
            "author": [{"identifier": {"system": RPPS, "value": rpps}}],
            "type": {"coding": [{"system": LOINC, "code": "11488-4"}]},
            "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]}
    response = transaction(http, base, (f"urn:uuid:{uuid.uuid4()}", practitioner), (f"urn:uuid:{uuid.uuid4()}", note))
    assert response.status_code == 200, response.text
    document_id = response.json()["entry"][1]["response"]["location"].split("/")[1]
    assert in_record(http, base, "DocumentReference", patient_id) == [document_id]


@pytest.mark.parametrize("subject", [
    {"reference": "https://elsewhere.example.org/fhir/Patient/123"},  # another server's Patient
    {"reference": f"Patient?identifier={INS}|000000000000000"},  # a search no Patient of this server answers
    {"reference": "urn:uuid:0f0e0d0c-0000-4000-8000-000000000001", "type": "Patient"},  # a Bundle entry, no Bundle
])
def test_a_patient_this_server_does_not_hold_is_refused(http, base, subject):
    """A document about a patient named in a form this server cannot resolve is refused, naming the element:
    never stored in no record (where its writer alone would read it, and the patient never)."""
    response = http.post(f"{base}/DocumentReference", headers=HEADERS, json={
        "resourceType": "DocumentReference", "status": "current", "subject": subject,
        "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]})
    assert response.status_code == 422, response.text
    assert "DocumentReference.subject: " in response.text and "is not a Patient of this server" in response.text


def test_an_author_on_another_server_is_no_patient(http, base):
    """An absolute reference to another server's Practitioner (a national directory's, as authors are often
    named) names no patient: the document is stored in its subject's record."""
    patient_id = post(http, base, {"resourceType": "Patient",
                                   "identifier": [{"system": INS, "value": str(uuid.uuid4().int % 10**15)}]})["id"]
    created = post(http, base, {
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
        "author": [{"reference": "https://directory.example.org/fhir/Practitioner/810000000001"}],
        "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]})
    assert in_record(http, base, "DocumentReference", patient_id) == [created["id"]]


def test_a_binary_security_context_on_this_servers_base_names_its_record(http, base):
    """`Binary.securityContext` written as an absolute URL on this server's base places the Binary in that
    record as a relative one does: another patient's document cannot take it, and an unknown Patient is
    refused."""
    owner, other = (post(http, base, {"resourceType": "Patient", "identifier": [
        {"system": INS, "value": str(uuid.uuid4().int % 10**15)}]})["id"] for _ in range(2))
    binary = post(http, base, {"resourceType": "Binary", "contentType": "text/plain", "data": "bm90ZQ==",
                               "securityContext": {"reference": f"{base}/Patient/{owner}"}})["id"]

    def attached_to(patient_id: str):
        return http.post(f"{base}/DocumentReference", headers=HEADERS, json={
            "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
            "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{binary}"}}]})
    refused = attached_to(other)
    assert refused.status_code == 422 and f"Binary/{binary} is not a Binary of this record" in refused.text
    assert attached_to(owner).status_code == 201
    unknown = http.post(f"{base}/Binary", headers=HEADERS, json={
        "resourceType": "Binary", "contentType": "text/plain", "data": "bm90ZQ==",
        "securityContext": {"reference": f"{base}/Patient/no-such-patient"}})
    assert unknown.status_code == 422 and "Patient/no-such-patient is not a Patient you may read" in unknown.text


def test_a_binary_security_context_on_another_server_names_no_record_here(http, base, db):
    """Another server's Patient of the same id is not ours: the Binary is kept with no record (as with a
    securityContext naming no patient), not filed in our Patient's record."""
    ours = post(http, base, {"resourceType": "Patient", "identifier": [
        {"system": INS, "value": str(uuid.uuid4().int % 10**15)}]})["id"]
    binary = post(http, base, {"resourceType": "Binary", "contentType": "text/plain", "data": "bm90ZQ==",
                               "securityContext": {"reference": f"https://elsewhere.example.org/fhir/Patient/{ours}"}})
    assert "x:record" not in db["Binary"].find_one({"_id": binary["id"]})


def test_a_resource_stays_in_the_record_it_was_first_written_in(http, base):
    """A new version cannot move a resource to another record, take it out of its record or put a resource
    written in no record into one; nor can a deleted resource come back in another record (its versions are
    its first record's, and a sharded database keeps them on that record's shard: docs/scaling.md). Each is a
    422 that says so; nothing is written, and a version in the same record still is."""
    first, second = (post(http, base, {"resourceType": "Patient", "identifier": [
        {"system": INS, "value": str(uuid.uuid4().int % 10**15)}]})["id"] for _ in range(2))

    def note(patient_id: str | None) -> dict:
        subject = {"subject": {"reference": f"Patient/{patient_id}"}} if patient_id else {}
        return {"resourceType": "DocumentReference", "status": "current", **subject,
                "type": {"coding": [{"system": LOINC, "code": "11488-4"}]},
                "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]}

    def put(document_id: str, patient_id: str | None):
        return http.put(f"{base}/DocumentReference/{document_id}", json={**note(patient_id), "id": document_id},
                        headers=HEADERS)

    kept = post(http, base, note(first))["id"]
    moved = put(kept, second)
    assert moved.status_code == 422, moved.text
    assert moved.json()["issue"][0]["code"] == "business-rule"
    assert f"DocumentReference/{kept} stays in the record of Patient/{first}" in moved.text
    assert "cannot move it to another record" in moved.text
    taken_out = put(kept, None)
    assert taken_out.status_code == 422 and "cannot take it out" in taken_out.text, taken_out.text
    assert in_record(http, base, "DocumentReference", first) == [kept] and \
        in_record(http, base, "DocumentReference", second) == []
    assert http.get(f"{base}/DocumentReference/{kept}", headers=HEADERS).json()["meta"]["versionId"] == "1"
    assert put(kept, first).status_code == 200  # a new version in its own record

    nowhere = post(http, base, note(None))["id"]
    into = put(nowhere, first)
    assert into.status_code == 422 and "was written in no record: a new version cannot move it into one" in \
        into.text, into.text

    assert http.delete(f"{base}/DocumentReference/{kept}", headers=HEADERS).status_code in (200, 204)
    again = put(kept, second)
    assert again.status_code == 422 and f"stays in the record of Patient/{first}" in again.text, again.text
    assert put(kept, first).status_code == 201  # brought back where it was
