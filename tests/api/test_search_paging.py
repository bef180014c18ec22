"""Paging a search: next / previous / self links that survive writes made between two page requests."""
from __future__ import annotations

import uuid

import pytest

from fhir_server import create_app
from tests.conftest import app_client

from .client import HEADERS, JSON, LOINC, post, search


def link(bundle: dict, relation: str) -> str | None:
    return next((entry["url"] for entry in bundle["link"] if entry["relation"] == relation), None)


def ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def follow(http, url: str) -> dict:
    response = http.get(url, headers={"Accept": JSON})
    assert response.status_code == 200, response.text
    return response.json()


def document(subject: str, date: str) -> dict:
    return {"resourceType": "DocumentReference", "status": "current", "date": date,
            "type": {"coding": [{"system": LOINC, "code": "11488-4"}]}, "subject": {"reference": subject},
            "content": [{"attachment": {"contentType": "application/pdf", "url": "https://documents.example.org/x.pdf"}}]}


@pytest.fixture()
def patient_documents(http, base) -> tuple[str, list[str]]:
    """A patient with five documents; their ids oldest first."""
    patient = post(http, base, {"resourceType": "Patient"})
    subject = f"Patient/{patient['id']}"
    return subject, [post(http, base, document(subject, f"2024-01-0{day}T10:00:00Z"))["id"] for day in range(1, 6)]


def test_writes_between_pages_neither_shift_nor_repeat_matches(http, base, patient_documents):
    subject, oldest_first = patient_documents
    first = search(http, base, "DocumentReference", {"patient": subject, "_sort": "-date", "_count": 2})
    assert ids(first) == oldest_first[:-3:-1] and first["total"] == 5
    # Between the pages: a newer document (it would push every later match one place down), a change that
    # moves a match of page 3 to the front, and a deletion of a match of page 2.
    post(http, base, document(subject, "2024-02-01T10:00:00Z"))
    changed = http.get(f"{base}/DocumentReference/{oldest_first[0]}", headers=HEADERS).json()
    assert http.put(f"{base}/DocumentReference/{oldest_first[0]}", json={**changed, "date": "2024-03-01T10:00:00Z"},
                    headers=HEADERS).status_code == 200
    assert http.delete(f"{base}/DocumentReference/{oldest_first[2]}").status_code == 200

    second = follow(http, link(first, "next"))
    third = follow(http, link(second, "next"))
    assert ids(second) == [oldest_first[1]]  # the deleted match is left out, nothing slides in
    assert ids(third) == [oldest_first[0]]  # changed since, still in its place, shown as it is now
    assert third["entry"][0]["resource"]["date"] == "2024-03-01T10:00:00Z"
    assert second["total"] == third["total"] == 5
    assert link(third, "next") is None
    assert ids(follow(http, link(third, "previous"))) == ids(second)
    assert ids(follow(http, link(second, "previous"))) == ids(first)
    assert ids(follow(http, link(second, "self"))) == ids(second)


def test_offset_and_page_sizes(http, base, patient_documents):
    subject, oldest_first = patient_documents
    from_second = search(http, base, "DocumentReference", {"patient": subject, "_sort": "date", "_offset": 1,
                                                            "_count": 3})
    assert ids(from_second) == oldest_first[1:4]
    assert "_offset=1" in link(from_second, "self")
    assert ids(follow(http, link(from_second, "previous"))) == oldest_first[0:3]
    assert ids(follow(http, link(from_second, "next"))) == oldest_first[4:]
    single = search(http, base, "DocumentReference", {"patient": subject, "_count": 5})
    assert len(ids(single)) == 5 and link(single, "next") is None and link(single, "previous") is None
    empty = search(http, base, "DocumentReference", {"patient": subject, "_offset": 9})
    assert ids(empty) == [] and empty["total"] == 5 and link(empty, "next") is None
    bigger = follow(http, link(search(http, base, "DocumentReference", {"patient": subject, "_count": 1}),
                               "next").replace("_count=1", "_count=10"))
    assert len(ids(bigger)) == 4  # a page request may ask for another page size


@pytest.mark.parametrize("query, status", [
    ("_getpages=unknown-search", 410),
    ("_getpages=unknown-search&_getpagesoffset=x", 400),
    ("_getpages=unknown-search&family=x", 400),
])
def test_bad_page_requests(http, base, query, status):
    response = http.get(f"{base}/Patient?{query}", headers={"Accept": JSON})
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_page_of_another_types_search_is_refused(http, base, patient_documents):
    subject, _ = patient_documents
    first = search(http, base, "DocumentReference", {"patient": subject, "_count": 2})
    response = http.get(link(first, "next").replace("/DocumentReference?", "/Patient?"), headers={"Accept": JSON})
    assert response.status_code == 400 and "DocumentReference" in response.text


def test_searches_beyond_the_kept_matches_say_so(database):
    uri, name = database
    app = create_app({"mongodb_uri": uri, "database_name": name, "search_max_results": 3, "search_pages_ttl": 0})
    client, token = app_client(app)
    family = f"Kept{uuid.uuid4().hex[:8]}"
    for _ in range(4):
        assert client.post("/fhir/Patient", json={"resourceType": "Patient", "name": [{"family": family}]},
                           headers={**HEADERS, **token}).status_code == 201
    bundle = client.get(f"/fhir/Patient?family={family}&_count=2", headers={"Accept": JSON, **token}).get_json()
    assert bundle["total"] == 4
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "first 3 matches" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    expired = client.get(link(bundle, "next").removeprefix(app.extensions["fhir"].settings.origin), headers={"Accept": JSON, **token})
    assert expired.status_code == 410  # a TTL of 0: kept searches expire at once


def test_a_count_above_the_largest_page_is_cut_to_it_and_said(database):
    uri, name = database
    app = create_app({"mongodb_uri": uri, "database_name": name, "search_page_max": 3})
    client, token = app_client(app)
    family = f"Capped{uuid.uuid4().hex[:8]}"
    for _ in range(7):
        assert client.post("/fhir/Patient", json={"resourceType": "Patient", "name": [{"family": family}]},
                           headers={**HEADERS, **token}).status_code == 201

    def page(url: str) -> dict:
        response = client.get(url, headers={"Accept": JSON, **token})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def warnings(bundle: dict) -> list[str]:
        return [issue["diagnostics"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"
                for issue in e["resource"]["issue"]]

    first = page(f"/fhir/Patient?family={family}&_count=50")
    assert len(ids(first)) == 3 and first["total"] == 7
    assert "_count=3" in link(first, "self") and "_count=3" in link(first, "next")
    assert any("_count=50" in w and "largest page (3)" in w for w in warnings(first))
    origin = app.extensions["fhir"].settings.origin
    asked_more = link(first, "next").removeprefix(origin).replace("_count=3", "_count=1000")
    second = page(asked_more)
    assert len(ids(second)) == 3 and not set(ids(second)) & set(ids(first))
    assert any("_count=1000" in w for w in warnings(second))
    within = page(link(first, "next").removeprefix(origin))
    assert len(ids(within)) == 3 and all(e["search"]["mode"] == "match" for e in within["entry"])
