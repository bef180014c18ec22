"""List: stored and searched as IHE MHD SubmissionSets and Folders, with MHD's own search parameters."""
from __future__ import annotations

import uuid

from .client import INS, post, search

MHD = "https://profiles.ihe.net/ITI/MHD"
SUBMISSION_SET = {"system": f"{MHD}/CodeSystem/MHDlistTypes", "code": "submissionset"}


def submission_set(subject: str, source: str, designation: str, unique: str) -> dict:
    return {
        "resourceType": "List", "status": "current", "mode": "working", "date": "2024-05-02T10:00:00+02:00",
        "extension": [
            {"url": f"{MHD}/StructureDefinition/ihe-sourceId",
             "valueIdentifier": {"system": "urn:ietf:rfc:3986", "value": source}},
            {"url": f"{MHD}/StructureDefinition/ihe-designationType",
             "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": designation}]}},
        ],
        "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": unique}],
        "code": {"coding": [SUBMISSION_SET]},
        "subject": {"reference": subject},
        "source": {"reference": "Practitioner/author-1"},
        "entry": [{"item": {"reference": "DocumentReference/doc-1"}}],
    }


def test_submission_sets_are_found_by_the_mhd_parameters(http, base):
    patient = post(http, base, {"resourceType": "Patient", "identifier": [{"system": INS,
                                                                           "value": uuid.uuid4().hex[:13]}]})
    subject = f"Patient/{patient['id']}"
    source = f"urn:oid:1.2.250.1.{uuid.uuid4().int % 10**8}"
    unique = f"urn:oid:1.2.3.{uuid.uuid4().int % 10**8}"
    stored = post(http, base, submission_set(subject, source, "34133-9", unique))
    other = post(http, base, submission_set(subject, f"{source}.9", "18842-5", f"{unique}.9"))

    def ids(**params) -> list[str]:
        return [e["resource"]["id"] for e in search(http, base, "List", {"patient": subject, **params}).get("entry", [])
                if e["search"]["mode"] == "match"]
    assert len(ids()) == 2
    assert ids(code=f"{SUBMISSION_SET['system']}|submissionset", sourceId=f"urn:ietf:rfc:3986|{source}") == [
        stored["id"]]
    assert ids(designationType="http://loinc.org|34133-9") == [stored["id"]]
    assert ids(identifier=f"urn:ietf:rfc:3986|{unique}") == [stored["id"]]
    assert len(ids(status="current", date="ge2024-05-01", source="Practitioner/author-1")) == 2
    assert ids(item="DocumentReference/doc-1", designationType="http://loinc.org|18842-5") == [other["id"]]
    assert ids(status="retired") == []
