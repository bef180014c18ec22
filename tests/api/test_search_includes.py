"""Search over HTTP: `_include`, `_revinclude` (with `:iterate`) and `_summary=true|text`."""
from __future__ import annotations

import uuid

import pytest

from tests.api.client import LOINC, STRICT, post, search

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def by_mode(bundle: dict, mode: str) -> list[str]:
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])
            if e["search"]["mode"] == mode]


def outcome_text(bundle: dict) -> str:
    return " ".join(issue["diagnostics"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"
                    for issue in e["resource"]["issue"])


def document(subject: str, code: str) -> dict:
    return {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": subject},
            "type": {"coding": [{"system": LOINC, "code": "11488-4"}]},
            "identifier": [{"system": "urn:test", "value": code}],
            "content": [{"attachment": {"contentType": "application/pdf", "url": "https://documents.example.org/x.pdf"}}]}


def listing(entity: str, code: str) -> dict:
    return {"resourceType": "List", "status": "current", "mode": "working",
            "code": {"coding": [{"system": "urn:test", "code": code}]}, "entry": [{"item": {"reference": entity}}]}


@pytest.fixture()
def records(http, base):
    """Two patients sharing a unique family; three documents (two of the first patient, one of the second)
    sharing a unique identifier system value prefix; a List holding the first document."""
    family = f"Inc{uuid.uuid4().hex[:10]}"
    code = uuid.uuid4().hex
    narrative = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
    patients = [post(http, base, {"resourceType": "Patient", "name": [{"family": family, "given": [g]}],
                                  "gender": "female", "birthDate": "1980-01-01", "text": narrative})
                for g in ("Anne", "Paul")]
    documents = [post(http, base, document(f"Patient/{patients[i]['id']}", code)) for i in (0, 0, 1)]
    event = post(http, base, listing(f"DocumentReference/{documents[0]['id']}", code))
    return {"family": family, "code": code, "patients": [f"Patient/{p['id']}" for p in patients],
            "documents": [f"DocumentReference/{d['id']}" for d in documents], "event": f"List/{event['id']}"}


def test_include_subject_of_documents_once_each(http, base, records):
    bundle = search(http, base, "DocumentReference",
                    [("identifier", f"urn:test|{records['code']}"), ("_include", "DocumentReference:subject")])
    assert sorted(by_mode(bundle, "match")) == sorted(records["documents"])
    assert sorted(by_mode(bundle, "include")) == sorted(records["patients"])  # the first patient only once
    assert bundle["total"] == 3
    modes = [e["search"]["mode"] for e in bundle["entry"]]
    assert modes == ["match"] * 3 + ["include"] * 2
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{base}/{resource['resourceType']}/{resource['id']}"
    assert "_include=DocumentReference%3Asubject" in bundle["link"][0]["url"]


def test_include_with_target_type(http, base, records):
    params = [("identifier", f"urn:test|{records['code']}")]
    patients = search(http, base, "DocumentReference", [*params, ("_include", "DocumentReference:subject:Patient")])
    assert sorted(by_mode(patients, "include")) == sorted(records["patients"])
    devices = search(http, base, "DocumentReference", [*params, ("_include", "DocumentReference:subject:Device")])
    assert by_mode(devices, "include") == [] and len(by_mode(devices, "match")) == 3


def test_deleted_resources_are_not_included(http, base, records):
    assert http.delete(f"{base}/{records['patients'][1]}").status_code in (200, 204)
    bundle = search(http, base, "DocumentReference",
                    [("identifier", f"urn:test|{records['code']}"), ("_include", "DocumentReference:subject")])
    assert by_mode(bundle, "include") == [records["patients"][0]]


def test_paging_applies_to_matches_only(http, base, records):
    params = [("identifier", f"urn:test|{records['code']}"), ("_include", "DocumentReference:subject"),
              ("_sort", "_id"), ("_count", "1")]
    first = search(http, base, "DocumentReference", params)
    assert first["total"] == 3 and len(by_mode(first, "match")) == 1 and len(by_mode(first, "include")) == 1
    following = first
    for _ in range(2):  # the later pages of the search keep its _include
        next_url = next(link["url"] for link in following["link"] if link["relation"] == "next")
        following = http.get(next_url, headers={"Accept": "application/fhir+json"}).json()
        assert following["total"] == 3 and len(by_mode(following, "match")) == 1
        assert len(by_mode(following, "include")) == 1
    assert not [link for link in following["link"] if link["relation"] == "next"]


def test_revinclude_documents_of_patients(http, base, records):
    bundle = search(http, base, "Patient", [("family", records["family"]),
                                            ("_revinclude", "DocumentReference:subject")])
    assert sorted(by_mode(bundle, "match")) == sorted(records["patients"])
    assert sorted(by_mode(bundle, "include")) == sorted(records["documents"])
    assert bundle["total"] == 2
    lists = search(http, base, "Patient", [("family", records["family"]), ("_revinclude", "List:subject")])
    assert by_mode(lists, "include") == []  # the list holds a document, it is about no patient


def test_iterate_follows_included_resources(http, base, records):
    bundle = search(http, base, "List", [("code", f"urn:test|{records['code']}"),
                                         ("_include", "List:item"),
                                               ("_include:iterate", "DocumentReference:subject")])
    assert by_mode(bundle, "match") == [records["event"]]
    assert by_mode(bundle, "include") == [records["documents"][0], records["patients"][0]]
    assert bundle["total"] == 1
    assert "_include%3Aiterate=DocumentReference%3Asubject" in bundle["link"][0]["url"]
    without = search(http, base, "List", [("code", f"urn:test|{records['code']}"),
                                          ("_include", "List:item")])
    assert by_mode(without, "include") == [records["documents"][0]]


def test_revinclude_iterate_and_recurse(http, base, records):
    bundle = search(http, base, "Patient", [("family", records["family"]),
                                            ("_revinclude", "DocumentReference:subject"),
                                            ("_revinclude:recurse", "List:item")])
    assert sorted(by_mode(bundle, "include")) == sorted([*records["documents"], records["event"]])


def test_included_resource_already_a_match_is_not_repeated(http, base, records):
    bundle = search(http, base, "Patient", [("family", records["family"]),
                                            ("_revinclude", "DocumentReference:subject"),
                                            ("_include:iterate", "DocumentReference:subject")])
    assert sorted(by_mode(bundle, "match")) == sorted(records["patients"])
    assert sorted(by_mode(bundle, "include")) == sorted(records["documents"])


@pytest.mark.parametrize("name, value", [
    ("_include", "Patient:subject"),                  # source type is not the searched type
    ("_include", "DocumentReference:nosuch"),         # unknown parameter
    ("_include", "DocumentReference:status"),         # not a reference parameter
    ("_include", "DocumentReference:subject:Nothing"),  # unknown target type
    ("_include", "*"),                                # wildcard
    ("_include", "subject"),                          # malformed
    ("_revinclude", "DocumentReference:custodian"),   # cannot refer to the searched type
    ("_include:deep", "DocumentReference:subject"),   # unknown modifier
])
def test_invalid_includes_are_ignored_or_refused_when_strict(http, base, records, name, value):
    searched = "Patient" if name == "_revinclude" else "DocumentReference"
    criteria = ("family", records["family"]) if searched == "Patient" else ("identifier", f"urn:test|{records['code']}")
    lenient = search(http, base, searched, [criteria, (name, value)])
    assert by_mode(lenient, "include") == [] and lenient["total"] in (2, 3)
    assert value in outcome_text(lenient) or name in outcome_text(lenient)
    assert "_include" not in lenient["link"][0]["url"]
    strict = http.get(f"{base}/{searched}", params=[criteria, (name, value)], headers=STRICT)
    assert strict.status_code == 400, strict.text
    assert strict.json()["resourceType"] == "OperationOutcome"


def test_valid_includes_are_accepted_when_strict(http, base, records):
    response = http.get(f"{base}/DocumentReference", headers=STRICT,
                        params=[("identifier", f"urn:test|{records['code']}"),
                                ("_include", "DocumentReference:patient"), ("_summary", "true")])
    assert response.status_code == 200, response.text
    assert len(by_mode(response.json(), "include")) == 2


def test_summary_true_keeps_summary_and_mandatory_elements(http, base, records):
    bundle = search(http, base, "DocumentReference", [("identifier", f"urn:test|{records['code']}"),
                                                      ("_summary", "true")])
    resource = bundle["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "status", "subject", "type", "identifier", "content",
                             "securityLabel"}  # confidentiality N, set by default
    assert SUBSETTED in resource["meta"]["tag"]
    patient = search(http, base, "Patient", [("family", records["family"]), ("_summary", "true")])
    resource = patient["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "name", "gender", "birthDate"}
    assert SUBSETTED in resource["meta"]["tag"]


def test_summary_text_keeps_text_and_mandatory_elements(http, base, records):
    patient = search(http, base, "Patient", [("family", records["family"]), ("_summary", "text")])
    resource = patient["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "text"} and SUBSETTED in resource["meta"]["tag"]
    documents = search(http, base, "DocumentReference", [("identifier", f"urn:test|{records['code']}"),
                                                         ("_summary", "text")])
    assert set(documents["entry"][0]["resource"]) == {"resourceType", "id", "meta", "status", "content"}
    assert "_summary=text" in documents["link"][0]["url"]
