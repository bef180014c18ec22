"""Search over HTTP: GET and POST _search, parameter types, paging, strictness, conditional update/delete."""
from __future__ import annotations

import time
import uuid

import pytest

JSON = "application/fhir+json"
HEADERS = {"Content-Type": JSON, "Accept": JSON}
INS = "urn:oid:1.2.250.1.213.1.4.8"


def post(http, base, resource: dict) -> dict:
    response = http.post(f"{base}/{resource['resourceType']}", json=resource, headers=HEADERS)
    assert response.status_code == 201, response.text
    return response.json()


def ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


@pytest.fixture()
def family() -> str:
    return f"Hélène{uuid.uuid4().hex[:8]}"


@pytest.fixture()
def patients(http, base, family):
    """Three patients sharing a unique family name."""
    specs = [("female", "1980-05-12", "Claire"), ("male", "1975-01-30", "Jean"), ("female", "2012-07-01", "Zoé")]
    return [post(http, base, {"resourceType": "Patient", "gender": gender, "birthDate": born,
                              "identifier": [{"system": INS, "value": uuid.uuid4().hex[:13]}],
                              "name": [{"family": family, "given": [given]}]})
            for gender, born, given in specs]


def search(http, base, resource_type: str, **params) -> dict:
    response = http.get(f"{base}/{resource_type}", params=params, headers={"Accept": JSON})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return bundle


def test_string_search_is_prefix_case_and_accent_insensitive(http, base, patients, family):
    plain = family.replace("é", "e").lower()[:8]
    bundle = search(http, base, "Patient", family=plain)
    assert sorted(ids(bundle)) == sorted(p["id"] for p in patients)
    assert bundle["total"] == 3
    assert search(http, base, "Patient", **{"family:exact": family.lower()})["total"] == 0
    assert search(http, base, "Patient", **{"family:exact": family})["total"] == 3


def test_token_date_and_and_or(http, base, patients, family):
    first = patients[0]
    identifier = first["identifier"][0]
    assert ids(search(http, base, "Patient", identifier=f"{INS}|{identifier['value']}")) == [first["id"]]
    assert ids(search(http, base, "Patient", identifier=identifier["value"])) == [first["id"]]
    females = search(http, base, "Patient", family=family, gender="female")
    assert sorted(ids(females)) == sorted([patients[0]["id"], patients[2]["id"]])
    either = search(http, base, "Patient", family=family, birthdate="1980,1975-01")
    assert sorted(ids(either)) == sorted([patients[0]["id"], patients[1]["id"]])
    adults = http.get(f"{base}/Patient", params=[("family", family), ("birthdate", "ge1975-01-30"),
                                                  ("birthdate", "lt2000")]).json()
    assert sorted(ids(adults)) == sorted([patients[0]["id"], patients[1]["id"]])
    assert ids(search(http, base, "Patient", family=family, **{"gender:not": "female"})) == [patients[1]["id"]]


def test_documents_of_a_patient_by_type_and_date_sorted_and_paged(http, base, patients):
    subject = f"Patient/{patients[0]['id']}"
    dates = ["2024-01-10T10:00:00Z", "2024-03-05T09:00:00Z", "2024-02-20T15:30:00Z", "2023-12-31T08:00:00Z"]
    for number, date in enumerate(dates):
        post(http, base, {"resourceType": "DocumentReference", "status": "current", "date": date,
                          "type": {"coding": [{"system": "http://loinc.org",
                                               "code": "11488-4" if number < 3 else "57833-6"}]},
                          "subject": {"reference": subject},
                          "content": [{"attachment": {"contentType": "application/pdf", "url": f"https://documents.example.org/{number}.pdf"}}]})
    bundle = search(http, base, "DocumentReference", patient=subject, type="http://loinc.org|11488-4",
                    date="ge2024-01-01", _sort="-date")
    assert [e["resource"]["date"] for e in bundle["entry"]] == sorted(dates[:3], reverse=True)
    by_id = search(http, base, "DocumentReference", patient=patients[0]["id"])
    assert by_id["total"] == 4

    first = search(http, base, "DocumentReference", subject=subject, _sort="date", _count=3)
    assert len(ids(first)) == 3 and first["total"] == 4
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = http.get(next_url).json()
    assert len(ids(second)) == 1
    assert not [link for link in second["link"] if link["relation"] == "next"]
    assert set(ids(first)).isdisjoint(ids(second))


def test_count_summary_total_and_elements(http, base, patients, family):
    counted = search(http, base, "Patient", family=family, _summary="count")
    assert counted["total"] == 3 and "entry" not in counted
    no_total = search(http, base, "Patient", family=family, _total="none")
    assert "total" not in no_total and len(ids(no_total)) == 3
    slim = search(http, base, "Patient", family=family, _elements="gender")
    resource = slim["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "gender"}
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"} \
        in resource["meta"]["tag"]


def test_unknown_parameters_are_reported_or_refused_when_strict(http, base, patients, family):
    lenient = search(http, base, "Patient", family=family, colour="blue")
    assert lenient["total"] == 3
    assert "colour" not in lenient["link"][0]["url"]
    outcomes = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert "colour" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    strict = http.get(f"{base}/Patient", params={"family": family, "colour": "blue"},
                      headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400 and "colour" in strict.json()["issue"][0]["diagnostics"]
    malformed = http.get(f"{base}/Patient", params={"birthdate": "yesterday"})
    assert malformed.status_code == 400


@pytest.mark.parametrize("value", ['{"$gt": ""}', "$where", ".*", "^", "a|b|c"])
def test_injection_attempts_match_nothing(http, base, patients, value):
    for name in ("family", "identifier", "gender"):
        bundle = search(http, base, "Patient", **{name: value})
        assert bundle["total"] == 0, (name, value)


def test_post_search(http, base, patients, family):
    response = http.post(f"{base}/Patient/_search", data={"family": family, "gender": "male"},
                         headers={"Accept": JSON})
    assert response.status_code == 200
    assert ids(response.json()) == [patients[1]["id"]]


def test_conditional_update_and_delete(http, base):
    value = uuid.uuid4().hex[:13]
    criteria = f"identifier={INS}|{value}"
    patient = {"resourceType": "Patient", "identifier": [{"system": INS, "value": value}], "gender": "male"}
    created = http.put(f"{base}/Patient?{criteria}", json=patient, headers=HEADERS)
    assert created.status_code == 201
    updated = http.put(f"{base}/Patient?{criteria}", json={**patient, "gender": "female"}, headers=HEADERS)
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"] and updated.json()["meta"]["versionId"] == "2"
    post(http, base, patient)  # a second match
    assert http.put(f"{base}/Patient?{criteria}", json=patient, headers=HEADERS).status_code == 412
    assert http.delete(f"{base}/Patient?{criteria}").status_code == 412
    http.delete(f"{base}/Patient/{created.json()['id']}")
    deleted = http.delete(f"{base}/Patient?{criteria}")
    assert deleted.status_code == 200
    assert search(http, base, "Patient", identifier=f"{INS}|{value}")["total"] == 0
    assert http.put(f"{base}/Patient", json=patient, headers=HEADERS).status_code == 400
    unknown = http.put(f"{base}/Patient?colour=blue", json=patient, headers=HEADERS)
    assert unknown.status_code == 400  # a criterion that is not understood never matches silently


def test_conditional_create_takes_any_search(http, base, patients, family):
    response = http.post(f"{base}/Patient", json={"resourceType": "Patient"},
                         headers={**HEADERS, "If-None-Exist": f"family={family}&gender=male"})
    assert response.status_code == 200 and response.json()["id"] == patients[1]["id"]


def test_sort_by_id_in_both_directions(http, base, patients, family):
    ascending = ids(search(http, base, "Patient", family=family, _sort="_id"))
    assert ascending == sorted(p["id"] for p in patients)
    assert ids(search(http, base, "Patient", family=family, _sort="-_id")) == ascending[::-1]


def test_conditional_update_with_a_body_that_is_not_a_resource_is_400(http, base):
    response = http.put(f"{base}/Patient?identifier={INS}|{uuid.uuid4().hex[:13]}", json=[1, 2],
                        headers=HEADERS)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_last_updated_is_searched_and_sorted_on(http, base, patients, family):
    """`_lastUpdated` is the time the server wrote the version (it did not exist when the index was computed)."""
    first = min(p["meta"]["lastUpdated"] for p in patients)
    everyone = sorted(p["id"] for p in patients)
    assert sorted(ids(search(http, base, "Patient", family=family, _lastUpdated=f"ge{first}"))) == everyone
    assert ids(search(http, base, "Patient", family=family, _lastUpdated=f"lt{first}")) == []
    assert ids(search(http, base, "Patient", family=family, **{"_lastUpdated:missing": "true"})) == []
    time.sleep(0.01)  # stamps keep milliseconds: the update is strictly later than the creations
    updated = http.put(f"{base}/Patient/{patients[1]['id']}", json={**patients[1], "gender": "other"}, headers=HEADERS)
    stamp = updated.json()["meta"]["lastUpdated"]
    assert ids(search(http, base, "Patient", family=family, _lastUpdated=f"ge{stamp}")) == [patients[1]["id"]]
    assert ids(search(http, base, "Patient", family=family, _sort="-_lastUpdated"))[0] == patients[1]["id"]


def test_a_reference_to_another_patient_is_searched_like_any_reference(http, base, patients):
    """`related` names a Patient that is not the document's: it filters, it does not restrict the search to
    that Patient's record (only `patient` and `subject` do)."""
    about, other = patients[0]["id"], patients[1]["id"]
    document = post(http, base, {
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{about}"},
        "context": {"related": [{"reference": f"Patient/{other}"}]},
        "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]})["id"]
    assert ids(search(http, base, "DocumentReference", related=f"Patient/{other}")) == [document]
    assert ids(search(http, base, "DocumentReference", related=f"Patient/{about}")) == []
    assert ids(search(http, base, "DocumentReference", subject=f"Patient/{about}", related=f"Patient/{other}")) \
        == [document]
