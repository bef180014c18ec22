"""POST [base] with batch and transaction Bundles (FHIR R4 http.html#transaction)."""
from __future__ import annotations

import base64
import json
import uuid

import pytest

from fhir_server import create_app
from tests.conftest import app_client

from .client import HEADERS, INS, JSON, LOINC, post, search


def transaction(*entries: dict, kind: str = "transaction") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def entry(method: str, url: str, resource: dict | None = None, full_url: str | None = None, **request) -> dict:
    item: dict = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        item["resource"] = resource
    if full_url:
        item["fullUrl"] = full_url
    return item


def send(http, base, bundle: dict, status: int = 200) -> dict:
    response = http.post(base, json=bundle, headers=HEADERS)
    assert response.status_code == status, response.text
    return response.json()


def patient(nir: str, family: str = "Transaction") -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": INS, "value": nir}], "name": [{"family": family}]}


def document(subject: str, url: str) -> dict:
    return {"resourceType": "DocumentReference", "status": "current",
            "type": {"coding": [{"system": LOINC, "code": "11488-4"}]}, "subject": {"reference": subject},
            "content": [{"attachment": {"contentType": "text/plain", "url": url}}]}


def unique() -> str:
    return uuid.uuid4().hex[:12]


def test_transaction_resolves_full_urls_and_answers_each_entry(http, base):
    nir, patient_url, binary_url = unique(), f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    answer = send(http, base, transaction(
        entry("POST", "DocumentReference", document(patient_url, binary_url)),
        entry("POST", "Binary", {"resourceType": "Binary", "contentType": "text/plain",
                                 "data": base64.b64encode(b"report").decode()}, binary_url),
        entry("POST", "Patient", patient(nir), patient_url),
        entry("GET", f"Patient?identifier={INS}|{nir}"),
    ))
    assert answer["type"] == "transaction-response" and len(answer["entry"]) == 4
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "201 Created", "201 Created", "200 OK"]
    document_location, binary_location, patient_location = (e["response"]["location"]
                                                            for e in answer["entry"][:3])
    assert patient_location.startswith("Patient/") and patient_location.endswith("/_history/1")
    assert answer["entry"][0]["response"]["etag"] == 'W/"1"'
    patient_ref = "/".join(patient_location.split("/")[:2])
    stored = http.get(f"{base}/{'/'.join(document_location.split('/')[:2])}", headers=HEADERS).json()
    assert stored["subject"]["reference"] == patient_ref
    assert stored["content"][0]["attachment"]["url"] == "/".join(binary_location.split("/")[:2])
    found = answer["entry"][3]["resource"]  # the GET ran after the writes
    assert found["total"] == 1 and found["entry"][0]["resource"]["id"] == patient_ref.split("/")[1]


def test_a_bad_entry_fails_the_whole_transaction_and_names_it(http, base):
    nir = unique()
    answer = send(http, base, transaction(
        entry("POST", "Patient", patient(nir)),
        entry("POST", "Patient", {"resourceType": "Patient", "gender": "sometimes"}),
    ), status=422)
    assert answer["resourceType"] == "OperationOutcome"
    assert any("Bundle.entry[1]" in " ".join(i.get("expression", [])) + i["diagnostics"] for i in answer["issue"])
    assert search(http, base, "Patient", {"identifier": f"{INS}|{nir}"})["total"] == 0


@pytest.mark.parametrize("bad, status, says", [
    (entry("POST", "Patient", {"resourceType": "Patient", "managingOrganization": {"reference": "urn:uuid:nowhere"}}),
     400, "names no entry"),
    (entry("PUT", "Patient", patient("x")), 400, "[type]/[id]"),
    (entry("POST", "Observation", {"resourceType": "Observation"}), 400, "not a resource type"),
    (entry("POST", "Patient", {"resourceType": "DocumentReference"}), 400, "request URL says Patient"),
    (entry("FETCH", "Patient"), 400, "request.method"),
    (entry("POST", "http://elsewhere.example/fhir/Patient", patient("y")), 400, "not on this server"),
    (entry("GET", "Patient/x/y/z/w"), 200, None),
])
def test_malformed_entries(http, base, bad, status, says):
    nir = unique()
    answer = send(http, base, transaction(entry("POST", "Patient", patient(nir)), bad), status=status)
    if says is None:  # a failed read after the commit is that entry's answer
        assert answer["entry"][1]["response"]["status"] == "400"
        return
    assert "Bundle.entry[1]" in answer["issue"][0]["diagnostics"] and says in answer["issue"][0]["diagnostics"]
    assert search(http, base, "Patient", {"identifier": f"{INS}|{nir}"})["total"] == 0


def test_conditional_entries_and_references(http, base):
    nir = unique()
    existing = post(http, base, patient(nir, "Existing"))
    answer = send(http, base, transaction(
        entry("POST", "Patient", patient(nir), "urn:uuid:p", ifNoneExist=f"identifier={INS}|{nir}"),
        entry("POST", "DocumentReference", document("urn:uuid:p", "https://documents.example.org/1.pdf")),
        entry("POST", "DocumentReference", document(f"Patient?identifier={INS}|{nir}", "https://documents.example.org/2.pdf")),
        entry("PUT", f"Patient?identifier={INS}|{nir}-new", patient(f"{nir}-new", "Upserted")),
    ))
    first, by_uuid, by_criteria, upserted = (e["response"] for e in answer["entry"])
    assert first["status"] == "200 OK" and first["location"] == f"Patient/{existing['id']}/_history/1"
    for created in (by_uuid, by_criteria):
        stored = http.get(f"{base}/{created['location'].rsplit('/_history', 1)[0]}", headers=HEADERS).json()
        assert stored["subject"]["reference"] == f"Patient/{existing['id']}"
    assert upserted["status"] == "201 Created"
    again = send(http, base, transaction(entry("PUT", f"Patient?identifier={INS}|{nir}-new",
                                               patient(f"{nir}-new", "Updated"))))
    assert again["entry"][0]["response"]["location"] == upserted["location"].replace("/_history/1", "/_history/2")
    ambiguous = post(http, base, patient(nir, "Twin"))["id"]
    assert ambiguous
    failed = send(http, base, transaction(entry("POST", "DocumentReference",
                                                document(f"Patient?identifier={INS}|{nir}", "https://documents.example.org/3.pdf"))), 412)
    assert "more than one" in failed["issue"][0]["diagnostics"]


def test_order_delete_patch_if_match_and_distinct_targets(http, base):
    gone = post(http, base, patient(unique()))
    kept = post(http, base, patient(unique(), "Before"))
    operations = [{"op": "replace", "path": "/name/0/family", "value": "Patched"}]
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": base64.b64encode(json.dumps(operations).encode()).decode()}
    answer = send(http, base, transaction(
        entry("GET", f"Patient/{gone['id']}"),  # runs last: after the delete
        entry("PATCH", f"Patient/{kept['id']}", binary, ifMatch='W/"1"'),
        entry("DELETE", f"Patient/{gone['id']}"),
    ))
    assert [e["response"]["status"] for e in answer["entry"]] == ["410", "200 OK", "204 No Content"]
    assert http.get(f"{base}/Patient/{kept['id']}", headers=HEADERS).json()["name"][0]["family"] == "Patched"
    stale = send(http, base, transaction(entry("PUT", f"Patient/{kept['id']}", {**kept, "gender": "male"},
                                               ifMatch='W/"1"')), 412)
    assert "Bundle.entry[0]" in stale["issue"][0]["diagnostics"]
    twice = send(http, base, transaction(entry("PUT", f"Patient/{kept['id']}", kept),
                                         entry("DELETE", f"Patient/{kept['id']}")), 400)
    assert "writes a resource once" in twice["issue"][0]["diagnostics"]


def test_a_conditional_patch_patches_the_one_match_and_creates_nothing(http, base):
    nir = unique()
    kept = post(http, base, patient(nir, "Before"))
    operations = [{"op": "replace", "path": "/name/0/family", "value": "Patched"}]
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": base64.b64encode(json.dumps(operations).encode()).decode()}
    answer = send(http, base, transaction(entry("PATCH", f"Patient?identifier={INS}|{nir}", binary)))
    assert answer["entry"][0]["response"]["location"] == f"Patient/{kept['id']}/_history/2"
    missing = send(http, base, transaction(entry("PATCH", f"Patient?identifier={INS}|{nir}-none", binary)), 404)
    assert "nothing to patch" in missing["issue"][0]["diagnostics"]
    assert search(http, base, "Patient", {"identifier": f"{INS}|{nir}-none"})["total"] == 0


def test_batch_entries_stand_alone(http, base):
    nir = unique()
    answer = send(http, base, transaction(
        entry("POST", "Patient", patient(nir)),
        entry("POST", "Patient", {"resourceType": "Patient", "gender": "sometimes"}),
        entry("GET", f"Patient?identifier={INS}|{nir}"),
        entry("DELETE", "Patient/does-not-exist"),
        kind="batch"))
    assert answer["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["201 Created", "422", "200 OK", "204 No Content"]
    assert answer["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert answer["entry"][2]["resource"]["total"] == 1  # the first entry was written


@pytest.mark.parametrize("body, status", [
    ({"resourceType": "Patient"}, 400),
    ({"resourceType": "Bundle", "type": "collection"}, 400),
    ({"resourceType": "Bundle", "type": "transaction", "entry": {"not": "a list"}}, 400),
    ({"resourceType": "Bundle", "type": "transaction", "entry": ["not an entry"]}, 400),
])
def test_not_a_batch_or_transaction(http, base, body, status):
    response = http.post(base, json=body, headers=HEADERS)
    assert response.status_code == status and response.json()["resourceType"] == "OperationOutcome"


def test_empty_transaction_and_xml(http, base):
    assert send(http, base, transaction())["type"] == "transaction-response"
    nir = unique()
    xml = (f'<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/><entry><resource><Patient>'
           f'<identifier><system value="{INS}"/><value value="{nir}"/></identifier></Patient></resource>'
           f'<request><method value="POST"/><url value="Patient"/></request></entry></Bundle>')
    response = http.post(base, data=xml, headers={"Content-Type": "application/fhir+xml", "Accept": JSON})
    assert response.status_code == 200, response.text
    assert response.json()["entry"][0]["response"]["status"] == "201 Created"


def test_a_thousand_entry_transaction(http, base):
    family = f"Thousand{unique()}"
    answer = send(http, base, transaction(*[entry("POST", "Patient", patient(f"{family}-{n}", family))
                                            for n in range(1000)]))
    assert len(answer["entry"]) == 1000
    assert {e["response"]["status"] for e in answer["entry"]} == {"201 Created"}
    assert search(http, base, "Patient", {"family": family, "_summary": "count"})["total"] == 1000


def test_bundle_entry_limit(database):
    uri, name = database
    client, token = app_client(create_app({"mongodb_uri": uri, "database_name": name, "bundle_max_entries": 2}))
    bundle = transaction(*[entry("POST", "Patient", {"resourceType": "Patient"}) for _ in range(3)])
    response = client.post("/fhir", json=bundle, headers={**HEADERS, **token})
    assert response.status_code == 413 and "at most 2" in response.get_json()["issue"][0]["diagnostics"]


def test_absolute_full_urls_and_typed_if_none_exist(http, base):
    """As the official R4 XDS example Bundle writes them: `Patient/a2` in the Bundle means the entry whose fullUrl
    is `http://other.example/fhir/Patient/a2`, and `ifNoneExist` may start with the type."""
    nir = unique()
    answer = send(http, base, transaction(
        entry("POST", "DocumentReference", document("Patient/a2", "https://documents.example.org/9.pdf")),
        entry("POST", "Patient", patient(nir), "http://other.example/fhir/Patient/a2",
              ifNoneExist=f"Patient?identifier={INS}|{nir}"),
    ))
    patient_location = answer["entry"][1]["response"]["location"]
    stored = http.get(f"{base}/{answer['entry'][0]['response']['location'].rsplit('/_history', 1)[0]}",
                      headers=HEADERS).json()
    assert stored["subject"]["reference"] == patient_location.rsplit("/_history", 1)[0]
    again = send(http, base, transaction(entry("POST", "Patient", patient(nir),
                                               ifNoneExist=f"Patient?identifier={INS}|{nir}")))
    assert again["entry"][0]["response"]["status"] == "200 OK"
    assert again["entry"][0]["response"]["location"] == patient_location


@pytest.mark.parametrize("item", [
    {"fullUrl": {"$gt": 1}, "request": {"method": "POST", "url": "Patient"}, "resource": {"resourceType": "Patient"}},
    {"request": {"method": "POST", "url": "Patient", "ifNoneExist": {"$gt": ""}}, "resource": {"resourceType": "Patient"}},
    {"request": {"method": "PUT", "url": "Patient/x", "ifMatch": ["W/\"1\""]}, "resource": {"resourceType": "Patient"}},
    {"request": {"method": "POST", "url": 5}, "resource": {"resourceType": "Patient"}},
])
def test_entries_of_the_wrong_shape_are_400(http, base, item):
    for kind in ("transaction", "batch"):
        response = http.post(base, json={"resourceType": "Bundle", "type": kind, "entry": [item]}, headers=HEADERS)
        body = response.json()
        if kind == "transaction":
            assert response.status_code == 400 and body["resourceType"] == "OperationOutcome"
        else:
            assert response.status_code == 200 and body["entry"][0]["response"]["status"] == "400"


def test_head_entries_answer_without_a_body(http, base):
    created = post(http, base, patient(unique()))
    answer = send(http, base, transaction(entry("HEAD", f"Patient/{created['id']}"),
                                          entry("GET", f"Patient/{created['id']}")))
    head, get = answer["entry"]
    assert head == {"response": {"status": "200 OK", "etag": 'W/"1"'}}
    assert get["resource"]["id"] == created["id"] and get["response"]["etag"] == 'W/"1"'
