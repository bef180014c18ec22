"""Search over HTTP: chained parameters and `_has` (FHIR R4 search.html#chaining, #has)."""
from __future__ import annotations

import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.api.client import HEADERS, INS, JSON, LOINC, STRICT, post, search


def ids(bundle: dict) -> list[str]:
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match")


def outcome_text(bundle: dict) -> str:
    return " ".join(issue["diagnostics"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"
                    for issue in e["resource"]["issue"])


def document(subject: str, code: str, tag: str) -> dict:
    return {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": subject},
            "type": {"coding": [{"system": LOINC, "code": code}]},
            "identifier": [{"system": "urn:test", "value": tag}],
            "content": [{"attachment": {"contentType": "application/pdf", "url": "https://documents.example.org/x.pdf"}}]}


@pytest.fixture()
def records(http, base):
    """Two patients with a unique family and INS each; the first has two documents (11488-4, 57833-6), the
    second one (57833-6); all documents share a unique identifier value `tag`."""
    family, tag = f"Chain{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    patients = [post(http, base, {"resourceType": "Patient", "name": [{"family": family, "given": [given]}],
                                  "identifier": [{"system": INS, "value": uuid.uuid4().hex[:13]}]})
                for given in ("Anne", "Paul")]
    refs = [f"Patient/{p['id']}" for p in patients]
    documents = [post(http, base, document(ref, code, tag))
                 for ref, code in ((refs[0], "11488-4"), (refs[0], "57833-6"), (refs[1], "57833-6"))]
    return {"family": family, "tag": tag, "patients": patients, "documents": [d["id"] for d in documents]}


def test_chain_on_identifier_through_typed_subject(http, base, records):
    ins = records["patients"][0]["identifier"][0]["value"]
    bundle = search(http, base, "DocumentReference", {"subject:Patient.identifier": f"{INS}|{ins}"})
    assert ids(bundle) == sorted(records["documents"][:2]) and bundle["total"] == 2
    query = parse_qsl(urlsplit(bundle["link"][0]["url"]).query)
    assert ("subject:Patient.identifier", f"{INS}|{ins}") in query
    again = http.get(bundle["link"][0]["url"], headers={"Accept": JSON}).json()  # the self link searches the same
    assert ids(again) == ids(bundle)


def test_chain_on_family_through_patient_and_untyped_subject(http, base, records):
    family = records["family"]
    assert ids(search(http, base, "DocumentReference", {"patient.family": family.lower()})) \
        == sorted(records["documents"])
    both = search(http, base, "DocumentReference", [("subject.given", "paul"), ("subject.family", family)])
    assert ids(both) == [records["documents"][2]]
    combined = search(http, base, "DocumentReference", {"patient.family": family, "type": f"{LOINC}|57833-6"})
    assert ids(combined) == sorted(records["documents"][1:])


def test_has_on_document_type(http, base, records):
    first, second = (p["id"] for p in records["patients"])
    family = records["family"]
    discharge = search(http, base, "Patient", {"_has:DocumentReference:subject:type": f"{LOINC}|11488-4",
                                               "family": family})
    assert ids(discharge) == [first]
    either = search(http, base, "Patient", {"_has:DocumentReference:patient:type": f"{LOINC}|57833-6"})
    assert {first, second} <= set(ids(either))
    by_tag = search(http, base, "Patient", {"_has:DocumentReference:subject:identifier": f"urn:test|{records['tag']}"})
    assert ids(by_tag) == sorted([first, second])
    assert ("_has:DocumentReference:subject:type", f"{LOINC}|11488-4") in \
        parse_qsl(urlsplit(discharge["link"][0]["url"]).query)


def test_no_matches(http, base, records):
    nobody = f"Nobody{uuid.uuid4().hex}"
    assert search(http, base, "DocumentReference", {"patient.family": nobody})["total"] == 0
    assert search(http, base, "DocumentReference", {"subject:Patient.identifier": f"{INS}|{nobody}"})["total"] == 0
    assert search(http, base, "Patient", {"_has:DocumentReference:subject:identifier": f"urn:test|{nobody}"})[
        "total"] == 0


def test_unknown_chained_parameters_are_reported_or_refused_when_strict(http, base, records):
    params = {"identifier": f"urn:test|{records['tag']}", "subject.colour": "blue"}
    lenient = search(http, base, "DocumentReference", params)
    assert lenient["total"] == 3 and "subject.colour" in outcome_text(lenient)
    assert "colour" not in lenient["link"][0]["url"]
    for name in ("subject.colour", "subject:Device.name", "_has:Observation:subject:code"):
        resource_type = "Patient" if name.startswith("_has") else "DocumentReference"
        strict = http.get(f"{base}/{resource_type}", params={name: "x"}, headers=STRICT)
        assert strict.status_code == 400, name
        assert name.split(".")[0].split(":")[0] in strict.json()["issue"][0]["diagnostics"]
    malformed = http.get(f"{base}/DocumentReference", params={"patient.birthdate": "yesterday"})
    assert malformed.status_code == 400


@pytest.mark.parametrize("value", ['{"$gt": ""}', "$where", ".*", "^", "a|b|c"])
def test_injection_values_in_chains_match_nothing(http, base, records, value):
    for name in ("patient.family", "subject:Patient.identifier", "patient.name"):
        bundle = search(http, base, "DocumentReference", {name: value, "identifier": f"urn:test|{records['tag']}"})
        assert bundle["total"] == 0, (name, value)
    has = search(http, base, "Patient", {"_has:DocumentReference:subject:identifier": value,
                                         "family": records["family"]})
    assert has["total"] == 0


def test_conditional_update_takes_a_chain(http, base, records):
    ins = records["patients"][1]["identifier"][0]["value"]
    criteria = f"subject:Patient.identifier={INS}|{ins}"
    doc = document(f"Patient/{records['patients'][1]['id']}", "57833-6", records["tag"])
    updated = http.put(f"{base}/DocumentReference?{criteria}", json={**doc, "status": "superseded"}, headers=HEADERS)
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == records["documents"][2] and updated.json()["status"] == "superseded"
