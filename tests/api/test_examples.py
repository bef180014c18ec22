"""Official FHIR R4 examples go in and come back equal (ignoring meta), in JSON and in XML."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from fhir_server.registry import RESOURCES
from tests.examples import canonical, load, official_examples, without_meta

# Consents are the patient's to write, AuditEvents the server's: referenced software writes neither.
NOT_WRITTEN_BY_SOFTWARE = {"Consent": 403, "AuditEvent": 405}
EXAMPLES = official_examples(tuple(t for t in RESOURCES if t not in NOT_WRITTEN_BY_SOFTWARE))
REFUSED = official_examples(tuple(NOT_WRITTEN_BY_SOFTWARE))
JSON, XML = "application/fhir+json", "application/fhir+xml"


def test_examples_are_found():
    assert len(EXAMPLES) >= 40 and len(REFUSED) >= 10


@pytest.mark.parametrize("path", REFUSED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_software_writes_no_consent_or_audit_event(http, base, path):
    original = load(path)
    refused = store(http, base, original)
    assert refused.status_code == NOT_WRITTEN_BY_SOFTWARE[original["resourceType"]]
    assert refused.json()["resourceType"] == "OperationOutcome"


def store(http, base: str, resource: dict, data: bytes | None = None, content_type: str = JSON):
    """PUT with the example's id, or POST for the append-only types (a new id is assigned)."""
    resource_type = resource["resourceType"]
    body = {"data": data} if data is not None else {"json": resource}
    headers = {"Content-Type": content_type, "Accept": JSON}
    if RESOURCES[resource_type].supports("update"):
        return http.put(f"{base}/{resource_type}/{resource['id']}", headers=headers, **body)
    return http.post(f"{base}/{resource_type}", headers=headers, **body)


def with_its_record(http, base: str, resource: dict, folder: Path | None = None) -> None:
    """Stores what an example's record needs first: the Patients it names (a resource about a patient is
    stored only in the record of a Patient the server holds), and the document a Binary's securityContext
    names: the official example of that id in `folder` when there is one (a resource stays in the record it
    was first written in, and the example test of that document writes it in its own), else a document of
    Patient/example."""
    text = json.dumps(resource)
    for patient_id in sorted(set(re.findall(r'"reference": "Patient/([A-Za-z0-9\-.]{1,64})"', text))):
        http.put(f"{base}/Patient/{patient_id}", json={"resourceType": "Patient", "id": patient_id}, headers={
            "Content-Type": JSON}).raise_for_status()
    context = (resource.get("securityContext") or {}).get("reference", "")
    if context.startswith("DocumentReference/"):
        document_id = context.partition("/")[2]
        official = folder / f"DocumentReference-{document_id}.json" if folder is not None else None
        document = load(official) if official is not None and official.exists() else {
            "resourceType": "DocumentReference", "id": document_id, "status": "current",
            "subject": {"reference": "Patient/example"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}
        with_its_record(http, base, document)
        store(http, base, document).raise_for_status()


def comparable(resource: dict) -> dict:
    """What must survive: all but meta and id; narratives as XHTML; a Binary's bytes, not their base64
    layout (the server returns the bytes in canonical base64, without the spaces an example may have)."""
    result = canonical({k: v for k, v in without_meta(resource).items() if k != "id"})
    if "data" in result:
        result["data"] = base64.b64decode("".join(result["data"].split()))
    return result


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_official_example_round_trips_in_json_and_xml(http, base, path):
    original = load(path)
    with_its_record(http, base, original, path.parent)
    stored = store(http, base, original)
    assert stored.status_code in (200, 201), stored.text
    url = f"{base}/{original['resourceType']}/{stored.json()['id']}"
    read = http.get(url, headers={"Accept": JSON}).json()
    assert read["id"] == stored.json()["id"]
    assert comparable(read) == comparable(original)
    exact = {k: v for k, v in without_meta(original).items() if k not in ("data", "id")}
    assert {k: v for k, v in without_meta(read).items() if k not in ("data", "id")} == exact  # JSON in, JSON out: same text

    xml = http.get(url, headers={"Accept": XML})
    assert xml.status_code == 200 and xml.headers["Content-Type"].startswith(XML)
    assert xml.content.lstrip().startswith(b"<") and b"http://hl7.org/fhir" in xml.content
    again = store(http, base, {**original, "id": stored.json()["id"]}, data=xml.content, content_type=XML)
    assert again.status_code in (200, 201), again.text
    assert comparable(again.json()) == comparable(original)
    if RESOURCES[original["resourceType"]].supports("update"):
        assert again.json()["meta"]["versionId"] == str(int(stored.json()["meta"]["versionId"]) + 1)
    else:
        assert again.json()["id"] != stored.json()["id"]
