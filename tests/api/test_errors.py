"""Every error status answers an OperationOutcome saying what is wrong; bad input never causes a 500."""
from __future__ import annotations

import concurrent.futures
import http.client
import json
import uuid
from datetime import datetime, timezone

import pytest

JSON = "application/fhir+json"
HEADERS = {"Content-Type": JSON, "Accept": JSON}
PATIENT = {"resourceType": "Patient", "name": [{"family": "Durand"}]}


def assert_outcome(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] and all(issue.get("diagnostics") for issue in body["issue"])
    if code:
        assert body["issue"][0]["code"] == code
    return body


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b"null", b'{"resourceType": "Patient", "a": NaN}',
                                  b'{"resourceType": "Patient", "gender": "male", "gender": "female"}',
                                  b"\xff\xfe not utf-8"])
def test_malformed_json_is_400(http, base, body):
    response = http.post(f"{base}/Patient", data=body, headers=HEADERS)
    assert_outcome(response, 400)


def test_malformed_xml_is_400(http, base):
    response = http.post(f"{base}/Patient", data=b"<Patient xmlns='http://hl7.org/fhir'><name>",
                         headers={"Content-Type": "application/fhir+xml"})
    assert_outcome(response, 400)


def test_wrong_resource_type_in_body_is_400(http, base):
    response = http.post(f"{base}/Patient", json={"resourceType": "Consent", "status": "active"}, headers=HEADERS)
    assert "Consent" in assert_outcome(response, 400)["issue"][0]["diagnostics"]


def test_unknown_type_and_unknown_id_are_404(http, base):
    body = assert_outcome(http.get(f"{base}/Observation/1"), 404)
    assert "Observation" in body["issue"][0]["diagnostics"]
    assert_outcome(http.get(f"{base}/NotAType/1"), 404)
    assert_outcome(http.post(f"{base}/Foo", json=PATIENT, headers=HEADERS), 404)
    assert_outcome(http.get(f"{base}/Patient/{uuid.uuid4()}"), 404, "not-found")
    assert_outcome(http.get(f"{base}/no/such/route/at/all"), 404)


def test_invalid_id_in_url_is_400(http, base):
    assert_outcome(http.get(f"{base}/Patient/{'x' * 65}"), 400)
    assert_outcome(http.put(f"{base}/Patient/a_b", json={**PATIENT, "id": "a_b"}, headers=HEADERS), 400)


def test_method_not_allowed_is_405(http, base):
    assert_outcome(http.patch(f"{base}/Patient", json=[], headers={"Content-Type": "application/json-patch+json"}), 405)


def test_unsupported_accept_is_406_and_content_type_415(http, base):
    assert_outcome(http.get(f"{base}/metadata", headers={"Accept": "text/csv"}), 406)
    assert_outcome(http.get(f"{base}/metadata", params={"_format": "yaml"}), 406)
    response = http.post(f"{base}/Patient", data="name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_outcome(response, 415)


def test_invalid_content_is_422_with_every_problem_and_its_path(http, base):
    resource = {"resourceType": "Patient", "gender": "robot", "birthDate": "2020-13-45", "name": [{"foo": 1}]}
    body = assert_outcome(http.post(f"{base}/Patient", json=resource, headers=HEADERS), 422)
    paths = {path for issue in body["issue"] for path in issue.get("expression", [])}
    assert {"Patient.gender", "Patient.birthDate", "Patient.name[0].foo"} <= paths


def test_concurrent_updates_of_one_version_let_exactly_one_win(http, base):
    created = http.post(f"{base}/Patient", json=PATIENT, headers=HEADERS).json()
    url = f"{base}/Patient/{created['id']}"

    def update(gender: str):
        import requests
        return requests.put(url, json={**created, "gender": gender},
                            headers={**HEADERS, **http.headers, "If-Match": 'W/"1"'})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sorted(r.status_code for r in pool.map(update, ["male", "female", "other", "unknown"] * 2))
    assert statuses.count(200) == 1
    assert set(statuses) == {200, 412}
    history = http.get(f"{url}/_history").json()
    assert history["total"] == 2


def test_concurrent_plain_updates_never_lose_a_version(http, base):
    created = http.post(f"{base}/Patient", json=PATIENT, headers=HEADERS).json()
    url = f"{base}/Patient/{created['id']}"

    def update(gender: str):
        import requests
        return requests.put(url, json={**created, "gender": gender}, headers={**HEADERS, **http.headers})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(update, ["male", "female", "other", "unknown"] * 2))
    assert {r.status_code for r in responses} <= {200, 409}
    won = [r.json() for r in responses if r.status_code == 200]
    assert won, "at least one of the concurrent updates must succeed"
    assert all(r.json()["resourceType"] == "OperationOutcome" for r in responses if r.status_code == 409)
    # each success made its own version, and the history holds exactly those, each with what was sent
    assert sorted(int(v["meta"]["versionId"]) for v in won) == list(range(2, 2 + len(won)))
    history = http.get(f"{url}/_history", params={"_count": 50}).json()
    assert history["total"] == 1 + len(won)
    kept = {e["resource"]["meta"]["versionId"]: e["resource"].get("gender") for e in history["entry"]}
    assert kept == {"1": created.get("gender"), **{v["meta"]["versionId"]: v["gender"] for v in won}}
    current = http.get(url).json()
    assert current["meta"]["versionId"] == str(1 + len(won)) and current["gender"] == kept[str(1 + len(won))]


@pytest.mark.parametrize("value", ['{"$gt": ""}', "$where", "'; db.dropDatabase(); '", "a|b|c", "x" * 5000])
def test_injection_attempts_in_conditions_are_plain_text(http, base, db, value):
    before = db["Patient"].count_documents({})
    response = http.post(f"{base}/Patient", json=PATIENT,
                         headers={**HEADERS, "If-None-Exist": f"identifier={value}"})
    assert response.status_code == 201  # nothing matches the literal text, so a new resource is created
    assert db["Patient"].count_documents({}) == before + 1


def test_injection_attempts_in_ids_and_parameters_are_4xx(http, base):
    assert_outcome(http.get(f"{base}/Patient/$where"), 400)
    assert_outcome(http.get(f"{base}/Patient/_history", params={"_count": '{"$gt": ""}'}), 400)
    assert_outcome(http.get(f"{base}/Patient/_history", params={"$where": "1"}), 400)


def test_body_too_large_is_413_without_reading_it(server, vendor):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/fhir/Binary")
    connection.putheader("Authorization", vendor.headers()["Authorization"])
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(10 * 1024 ** 3))
    connection.endheaders(b"only the start of a 10 GB body")
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["resourceType"] == "OperationOutcome"
    connection.close()


def test_a_write_colliding_with_an_unfinished_one_is_409_and_completes_it(http, base, db):
    """A version committed to history but not yet made current (a crash between the two writes)
    makes the next plain update collide: 409, and the unfinished version becomes current."""
    created = http.post(f"{base}/Patient", json=PATIENT, headers=HEADERS).json()
    url = f"{base}/Patient/{created['id']}"
    unfinished = {**created, "gender": "female", "meta": {"versionId": "2"}}
    db["history"].insert_one({"_id": f"Patient/{created['id']}/2", "type": "Patient", "rid": created["id"],
                              "vid": 2, "ts": datetime.now(timezone.utc), "method": "PUT", "deleted": False,
                              "json": json.dumps(unfinished)})
    response = http.put(url, json={**created, "gender": "male"}, headers=HEADERS)
    assert_outcome(response, 409, "conflict")
    current = http.get(url).json()
    assert current["gender"] == "female" and current["meta"]["versionId"] == "2"
    assert http.put(url, json={**created, "gender": "male"}, headers=HEADERS).json()["meta"]["versionId"] == "3"
