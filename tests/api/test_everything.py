"""Patient/[id]/$everything: the patient and their whole record, filtered and paged."""
from __future__ import annotations

import base64

from .client import HEADERS, JSON, LOINC, post


def everything(http, base, patient_id: str, status: int = 200, **params) -> dict:
    response = http.get(f"{base}/Patient/{patient_id}/$everything", params=params, headers={"Accept": JSON})
    assert response.status_code == status, response.text
    return response.json()


def references(bundle: dict) -> list[str]:
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])]


def record(http, base) -> tuple[str, set[str]]:
    """A patient and the resources of their record; another patient's document beside it."""
    patient = post(http, base, {"resourceType": "Patient"})
    subject = {"reference": f"Patient/{patient['id']}"}
    binary = post(http, base, {"resourceType": "Binary", "contentType": "text/plain",
                               "data": base64.b64encode(b"report").decode()})
    document = post(http, base, {"resourceType": "DocumentReference", "status": "current", "subject": subject,
                                 "type": {"coding": [{"system": LOINC, "code": "11488-4"}]},
                                 "content": [{"attachment": {"contentType": "text/plain",
                                                             "url": f"Binary/{binary['id']}"}}]})
    authored = post(http, base, {"resourceType": "DocumentReference", "status": "current",
                                 "author": [subject], "content": [{"attachment": {"url": "http://x.example/1"}}]})
    listed = post(http, base, {"resourceType": "List", "status": "current", "mode": "working", "subject": subject})
    other = post(http, base, {"resourceType": "Patient"})
    post(http, base, {"resourceType": "DocumentReference", "status": "current",
                      "subject": {"reference": f"Patient/{other['id']}"}, "content": [{"attachment": {"url": "x:y"}}]})
    return patient["id"], {f"Patient/{patient['id']}", f"Binary/{binary['id']}",
                           f"DocumentReference/{document['id']}", f"DocumentReference/{authored['id']}",
                           f"List/{listed['id']}"}


def test_everything_in_the_record_and_nothing_else(http, base):
    patient_id, expected = record(http, base)
    bundle = everything(http, base, patient_id)
    assert bundle["type"] == "searchset" and bundle["total"] == len(expected)
    found = references(bundle)
    assert found[0] == f"Patient/{patient_id}" and set(found) == expected
    binary = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary")
    assert base64.b64decode(binary["data"]) == b"report"

    documents = everything(http, base, patient_id, _type="DocumentReference")
    assert set(references(documents)) == {r for r in expected if r.startswith(("Patient/", "DocumentReference/"))}
    assert references(everything(http, base, patient_id, _since="2999-01-01T00:00:00Z")) == [f"Patient/{patient_id}"]


def test_everything_is_paged(http, base):
    patient_id, expected = record(http, base)
    page = everything(http, base, patient_id, _count=2)
    seen = references(page)
    while next_url := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        page = http.get(next_url, headers={"Accept": JSON}).json()
        assert page["total"] == len(expected) and len(references(page)) <= 2
        seen += references(page)
    assert sorted(seen) == sorted(expected)


def test_everything_errors(http, base):
    everything(http, base, "no-such-patient", status=404)
    patient = post(http, base, {"resourceType": "Patient"})
    everything(http, base, patient["id"], status=400, _since="yesterday")
    everything(http, base, patient["id"], status=400, _type="Observation")
    everything(http, base, patient["id"], status=400, _sort="date")
    everything(http, base, patient["id"], status=410, _getpages="unknown")
    assert http.delete(f"{base}/Patient/{patient['id']}", headers=HEADERS).status_code == 200
    everything(http, base, patient["id"], status=410)
