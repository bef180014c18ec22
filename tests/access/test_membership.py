"""Which record a document joins when its subject is a Patient contained in it (as CDA and XDS.b mappings
write them): the stored Patient its identifiers name, or a refusal saying why."""
from __future__ import annotations

import uuid

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
