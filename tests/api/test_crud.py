"""Create, read, vread, update, patch, delete and conditional create over HTTP (FHIR R4 http.html)."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

JSON = "application/fhir+json"
HEADERS = {"Content-Type": JSON, "Accept": JSON}


def patient(**fields) -> dict:
    return {"resourceType": "Patient", "name": [{"family": "Martin", "given": ["Claire"]}],
            "gender": "female", "birthDate": "1984-03-02", **fields}


def create(http, base, resource, **headers):
    return http.post(f"{base}/{resource['resourceType']}", json=resource, headers={**HEADERS, **headers})


def test_create_assigns_id_version_and_headers(http, base):
    response = create(http, base, {**patient(), "id": "client-chosen"})
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "client-chosen"  # the server ignores a client id on create
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"] == f"{base}/Patient/{body['id']}/_history/1"
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.headers["Content-Type"].startswith(JSON)


def test_read_returns_what_was_created(http, base):
    created = create(http, base, patient(gender="male")).json()
    response = http.get(f"{base}/Patient/{created['id']}", headers={"Accept": JSON})
    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["ETag"] == 'W/"1"'


def test_update_makes_a_new_version_and_vread_keeps_the_old(http, base):
    created = create(http, base, patient()).json()
    url = f"{base}/Patient/{created['id']}"
    changed = {**created, "gender": "other"}
    response = http.put(url, json=changed, headers=HEADERS)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert response.json()["gender"] == "other"
    assert response.headers["ETag"] == 'W/"2"'
    old = http.get(f"{url}/_history/1", headers=HEADERS)
    assert old.status_code == 200 and old.json()["gender"] == "female"
    assert http.get(f"{url}/_history/2").json()["gender"] == "other"
    assert http.get(f"{url}/_history/3").status_code == 404


def test_update_as_create_with_a_client_id(http, base):
    new_id = f"ins-{uuid.uuid4().hex[:12]}"
    response = http.put(f"{base}/Patient/{new_id}", json=patient(id=new_id), headers=HEADERS)
    assert response.status_code == 201
    assert response.json()["id"] == new_id
    assert response.headers["Location"] == f"{base}/Patient/{new_id}/_history/1"


def test_update_needs_matching_id(http, base):
    created = create(http, base, patient()).json()
    wrong = http.put(f"{base}/Patient/{created['id']}", json={**created, "id": "other"}, headers=HEADERS)
    assert wrong.status_code == 400
    missing = http.put(f"{base}/Patient/{created['id']}", json=patient(), headers=HEADERS)
    assert missing.status_code == 400
    assert missing.json()["resourceType"] == "OperationOutcome"


def test_if_match_accepts_the_current_version_and_refuses_a_stale_one(http, base):
    created = create(http, base, patient()).json()
    url = f"{base}/Patient/{created['id']}"
    ok = http.put(url, json={**created, "gender": "male"}, headers={**HEADERS, "If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = http.put(url, json={**created, "gender": "other"}, headers={**HEADERS, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert http.get(url).json()["gender"] == "male"


def test_prefer_return(http, base):
    minimal = create(http, base, patient(), Prefer="return=minimal")
    assert minimal.status_code == 201 and minimal.content == b""
    assert minimal.headers["Location"]
    outcome = create(http, base, patient(), Prefer="return=OperationOutcome")
    assert outcome.status_code == 201
    assert outcome.json()["resourceType"] == "OperationOutcome"
    representation = create(http, base, patient(), Prefer="return=representation")
    assert representation.json()["resourceType"] == "Patient"


def test_json_patch_masks_a_document_as_the_french_record_does(http, base):
    patient = create(http, base, {"resourceType": "Patient"}).json()
    document = {
        "resourceType": "DocumentReference", "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
        "subject": {"reference": f"Patient/{patient['id']}"},
        "content": [{"attachment": {"contentType": "application/pdf", "url": "https://documents.example.org/1.pdf"}}],
    }
    created = create(http, base, document).json()
    label = {"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": "MASQUE_PS"}
    operations = [{"op": "add", "path": "/securityLabel", "value": [{"coding": [label]}]}]
    response = http.patch(f"{base}/DocumentReference/{created['id']}", json=operations,
                          headers={"Content-Type": "application/json-patch+json", "Accept": JSON})
    assert response.status_code == 200
    body = response.json()
    normal = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}
    assert body["securityLabel"] == [{"coding": [label]}, {"coding": [normal]}]  # confidentiality N by default
    assert body["meta"]["versionId"] == "2"
    assert body["status"] == "current"


def test_patch_errors(http, base):
    created = create(http, base, patient()).json()
    url = f"{base}/Patient/{created['id']}"
    patch_headers = {"Content-Type": "application/json-patch+json"}
    failed_test = http.patch(url, json=[{"op": "test", "path": "/gender", "value": "male"}], headers=patch_headers)
    assert failed_test.status_code == 422
    invalid_result = http.patch(url, json=[{"op": "replace", "path": "/gender", "value": "robot"}],
                                headers=patch_headers)
    assert invalid_result.status_code == 422
    malformed = http.patch(url, json={"op": "remove"}, headers=patch_headers)
    assert malformed.status_code == 400
    wrong_type = http.patch(url, json=[], headers=HEADERS)
    assert wrong_type.status_code in (400, 415)
    stale = http.patch(url, json=[{"op": "replace", "path": "/gender", "value": "male"}],
                       headers={**patch_headers, "If-Match": 'W/"9"'})
    assert stale.status_code == 412
    assert http.get(url).json()["meta"]["versionId"] == "1"


def test_delete_then_read_is_gone_and_history_keeps_a_tombstone(http, base):
    created = create(http, base, patient()).json()
    url = f"{base}/Patient/{created['id']}"
    deleted = http.delete(url)
    assert deleted.status_code == 200
    assert deleted.json()["resourceType"] == "OperationOutcome"
    assert deleted.headers["ETag"] == 'W/"2"'
    gone = http.get(url)
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    assert http.get(f"{url}/_history/1").status_code == 200
    assert http.get(f"{url}/_history/2").status_code == 410
    history = http.get(f"{url}/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]
    again = http.delete(url)
    assert again.status_code == 200 and "ETag" not in again.headers
    recreated = http.put(url, json={k: v for k, v in created.items() if k != "meta"}, headers=HEADERS)
    assert recreated.status_code == 201
    assert recreated.json()["meta"]["versionId"] == "3"


def test_conditional_create_with_if_none_exist(http, base):
    system = "urn:oid:1.2.250.1.213.1.4.8"
    value = uuid.uuid4().hex[:13]
    resource = patient(identifier=[{"system": system, "value": value}])
    first = create(http, base, resource, **{"If-None-Exist": f"identifier={system}|{value}"})
    assert first.status_code == 201
    second = create(http, base, resource, **{"If-None-Exist": f"identifier={system}|{value}"})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    by_value_only = create(http, base, resource, **{"If-None-Exist": f"identifier={value}"})
    assert by_value_only.status_code == 200
    create(http, base, resource)  # a duplicate made without the condition
    ambiguous = create(http, base, resource, **{"If-None-Exist": f"identifier={system}|{value}"})
    assert ambiguous.status_code == 412
    unknown = create(http, base, resource, **{"If-None-Exist": "colour=blue"})
    assert unknown.status_code == 400


def test_history_instance_and_type_with_paging(http, base):
    created = create(http, base, patient()).json()
    url = f"{base}/Patient/{created['id']}"
    for gender in ("male", "other", "unknown"):
        current = http.get(url).json()
        http.put(url, json={**current, "gender": gender}, headers=HEADERS)
    history = http.get(f"{url}/_history", headers=HEADERS).json()
    assert history["type"] == "history" and history["total"] == 4
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["4", "3", "2", "1"]
    assert history["entry"][0]["request"] == {"method": "PUT", "url": f"Patient/{created['id']}"}
    assert history["entry"][-1]["response"]["status"] == "201 Created"

    page = http.get(f"{url}/_history", params={"_count": 3}).json()
    assert len(page["entry"]) == 3
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    http.put(url, json={**http.get(url).json(), "gender": "female"}, headers=HEADERS)  # a write between pages
    rest = http.get(next_url).json()
    assert [e["resource"]["meta"]["versionId"] for e in rest["entry"]] == ["1"]

    type_history = http.get(f"{base}/Patient/_history", params={"_count": 5}).json()
    assert type_history["total"] >= 5 and len(type_history["entry"]) == 5
    since = http.get(f"{base}/Patient/_history", params={"_since": "2999-01-01T00:00:00Z"}).json()
    assert since["total"] == 0
    assert http.get(f"{base}/Patient/_history", params={"_since": "yesterday"}).status_code == 400
    assert http.get(f"{base}/Patient/_history", params={"_count": "-1"}).status_code == 400
    assert http.get(f"{base}/Patient/{uuid.uuid4()}/_history").status_code == 404


def test_audit_events_are_recorded_by_the_server_only(http, base):
    event = {
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "recorded": "2026-01-01T10:00:00Z",
        "agent": [{"requestor": True, "who": {"display": "Dr Martin"}}],
        "source": {"observer": {"display": "fhir-server"}},
    }
    assert create(http, base, event).status_code == 405
    url = f"{base}/AuditEvent/{uuid.uuid4()}"
    assert http.put(url, json=event, headers=HEADERS).status_code == 405
    assert http.delete(url).status_code == 405
    assert http.patch(url, json=[], headers={"Content-Type": "application/json-patch+json"}).status_code == 405
    refused = http.get(f"{base}/AuditEvent")  # the patient's own: professionals do not read them
    assert refused.status_code == 403 and "patient" in refused.json()["issue"][0]["diagnostics"]


def test_conditional_read_answers_304_when_unchanged(http, base):
    created = create(http, base, patient())
    url = f"{base}/Patient/{created.json()['id']}"
    unchanged = http.get(url, headers={"If-None-Match": 'W/"1"'})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["ETag"] == 'W/"1"'
    assert http.get(url, headers={"If-Modified-Since": created.headers["Last-Modified"]}).status_code == 304
    http.put(url, json={**created.json(), "gender": "male"}, headers=HEADERS)
    changed = http.get(url, headers={"If-None-Match": 'W/"1"'})
    assert changed.status_code == 200 and changed.json()["gender"] == "male"
    assert http.get(url, headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}).status_code == 200


def test_racing_conditional_creates_make_one_resource(http, base, db):
    """Conditional creates with the same criteria sent at once, alone or in transactions (a lab and a
    practice pushing for the same new patient), create one Patient: its criteria are claimed once
    (storage/claims.py) and the others answer it as their match (or, while it is still being written after a
    few seconds, 409 to send again). Before, each of four made its own Patient."""
    system = "urn:oid:1.2.250.1.213.1.4.8"

    def found(value: str) -> list[str]:
        bundle = http.get(f"{base}/Patient", params={"identifier": f"{system}|{value}"}, headers=HEADERS).json()
        return [entry["resource"]["id"] for entry in bundle.get("entry", [])]

    def total(value: str) -> int:
        return len(found(value))

    value = uuid.uuid4().hex[:13]
    resource = patient(identifier=[{"system": system, "value": value}])
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: create(http, base, resource, **{
            "If-None-Exist": f"identifier={system}|{value}"}), range(4)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201, 409}, [a.text[:200] for a in answers]
    assert len({a.json()["id"] for a in answers if a.status_code < 300}) == 1 and total(value) == 1

    value = uuid.uuid4().hex[:13]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "fullUrl": f"urn:uuid:{uuid.uuid4()}", "request": {"method": "POST", "url": "Patient",
                                                           "ifNoneExist": f"Patient?identifier={system}|{value}"},
        "resource": patient(identifier=[{"system": system, "value": value}])}]}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: http.post(base, json=bundle, headers=HEADERS), range(4)))
    assert {a.status_code for a in answers} <= {200, 409} and total(value) == 1, [a.text[:200] for a in answers]
    assert [a.json()["entry"][0]["response"]["status"][:3] for a in answers if a.status_code == 200].count("201") == 1

    # A claim whose resource no longer matches (here deleted) is taken over: the criteria create again.
    patient_id = found(value)[0]
    assert http.delete(f"{base}/Patient/{patient_id}", headers=HEADERS).status_code in (200, 204)
    again = create(http, base, patient(identifier=[{"system": system, "value": value}]),
                   **{"If-None-Exist": f"identifier={system}|{value}"})
    assert again.status_code == 201 and again.json()["id"] != patient_id and total(value) == 1


def test_racing_conditional_updates_that_create_make_one_resource(http, base):
    """Conditional updates matching nothing create (as HL7 v2 A08 and A31 do for a new patient): sent at once
    with the same criteria, alone or in transactions, they create one Patient and the others update it (or
    are told 409 to send again, as racing updates of one resource are). Before, each made its own Patient."""
    system = "urn:oid:1.2.250.1.213.1.4.8"
    for transaction in (False, True):
        value = uuid.uuid4().hex[:13]
        criteria, resource = f"identifier={system}|{value}", patient(identifier=[{"system": system, "value": value}])
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{
            "resource": resource, "request": {"method": "PUT", "url": f"Patient?{criteria}"}}]}

        def send(_: int) -> tuple[int, str]:
            if not transaction:
                answer = http.put(f"{base}/Patient?{criteria}", json=resource, headers=HEADERS)
                return answer.status_code, answer.text
            answer = http.post(base, json=bundle, headers=HEADERS)
            if answer.status_code != 200:
                return answer.status_code, answer.text
            return int(answer.json()["entry"][0]["response"]["status"][:3]), answer.text

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, range(4)))
        statuses = [status for status, _ in answers]
        assert statuses.count(201) == 1 and set(statuses) <= {200, 201, 409}, answers
        found = http.get(f"{base}/Patient", params={"identifier": f"{system}|{value}"}, headers=HEADERS).json()
        assert len(found.get("entry", [])) == 1, (transaction, answers)


def test_a_transaction_creating_by_the_same_criteria_twice_is_refused(http, base):
    """Two entries of one transaction that would create by the same criteria (conditional creates or updates)
    are one resource twice, which a transaction may not hold (FHIR http.html#trules): 400 naming the entry.
    The second waited for the first's claim, held by its own transaction, then answered 409 'send it again'."""
    system = "urn:oid:1.2.250.1.213.1.4.8"
    for methods in (("POST", "POST"), ("PUT", "PUT"), ("POST", "PUT")):
        value = uuid.uuid4().hex[:13]
        criteria = f"identifier={system}|{value}"
        request_of = {"POST": {"method": "POST", "url": "Patient", "ifNoneExist": criteria},
                    "PUT": {"method": "PUT", "url": f"Patient?{criteria}"}}
        answer = http.post(base, headers=HEADERS, json={"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "request": request_of[method],
             "resource": patient(identifier=[{"system": system, "value": value}])} for method in methods]})
        assert answer.status_code == 400 and "Bundle.entry[1]" in answer.text, (methods, answer.text)
        assert "appears once in a transaction" in answer.text
        found = http.get(f"{base}/Patient", params={"identifier": f"{system}|{value}"}, headers=HEADERS).json()
        assert not found.get("entry")
        again = http.put(f"{base}/Patient?{criteria}", json=patient(identifier=[{"system": system, "value": value}]),
                         headers=HEADERS)
        assert again.status_code == 201, again.text  # the refused transaction gave its claims back


def test_a_conditional_create_refused_gives_its_criteria_back(http, base):
    """A conditional create refused after its criteria were claimed (here: its patient is unknown) does not
    hold them: the corrected create that follows is made at once, not kept waiting then told 409."""
    system, value = "urn:oid:1.2.250.1.213.1.4.8", uuid.uuid4().hex[:13]
    condition = {"If-None-Exist": f"identifier={system}|{value}"}
    note = {"resourceType": "DocumentReference", "status": "current", "identifier": [{"system": system, "value": value}],
            "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}]}
    refused = create(http, base, {**note, "subject": {"reference": "Patient/no-such-patient"}}, **condition)
    assert refused.status_code == 422, refused.text
    owner = create(http, base, patient()).json()["id"]
    made = create(http, base, {**note, "subject": {"reference": f"Patient/{owner}"}}, **condition)
    assert made.status_code == 201, made.text
