"""Binary: content in GridFS, raw or FHIR representations, documents of tens of MB."""
from __future__ import annotations

import base64
import hashlib
import os

JSON = "application/fhir+json"


def test_large_binary_round_trips_raw_and_as_fhir(http, base, db):
    content = os.urandom(20 * 1024 * 1024)
    patient = http.post(f"{base}/Patient", json={"resourceType": "Patient"}, headers={"Content-Type": JSON}).json()
    created = http.post(f"{base}/Binary", data=content,
                        headers={"Content-Type": "application/pdf", "X-Security-Context": f"Patient/{patient['id']}",
                                 "Prefer": "return=minimal"})
    assert created.status_code == 201
    location = created.headers["Location"]
    binary_id = location.split("/Binary/")[1].split("/")[0]

    raw = http.get(f"{base}/Binary/{binary_id}")
    assert raw.status_code == 200
    assert raw.headers["Content-Type"] == "application/pdf"
    assert hashlib.sha1(raw.content).digest() == hashlib.sha1(content).digest()
    assert raw.headers["ETag"] == 'W/"1"'

    resource = http.get(f"{base}/Binary/{binary_id}", headers={"Accept": JSON}).json()
    assert resource["contentType"] == "application/pdf"
    assert resource["securityContext"] == {"reference": f"Patient/{patient['id']}"}
    assert base64.b64decode(resource["data"]) == content

    stored = db["Binary"].find_one({"_id": binary_id})
    assert '"data"' not in stored["json"]  # the bytes live in GridFS chunks, not in the document
    assert stored["content"]["size"] == len(content)


def test_binary_as_fhir_json_and_update(http, base):
    data = base64.b64encode(b"%PDF-1.4 first").decode()
    created = http.post(f"{base}/Binary", json={"resourceType": "Binary", "contentType": "application/pdf",
                                                "data": data}, headers={"Content-Type": JSON})
    assert created.status_code == 201
    body = created.json()
    assert body["data"] == data
    url = f"{base}/Binary/{body['id']}"
    updated = http.put(url, data=b"%PDF-1.4 second", headers={"Content-Type": "application/pdf"})
    assert updated.status_code == 200
    assert http.get(url).content == b"%PDF-1.4 second"
    assert http.get(f"{url}/_history/1", headers={"Accept": "*/*"}).content == b"%PDF-1.4 first"
    assert http.get(url, params={"_format": "json"}).json()["meta"]["versionId"] == "2"


def test_binary_with_bad_base64_is_422(http, base):
    response = http.post(f"{base}/Binary", json={"resourceType": "Binary", "contentType": "text/plain",
                                                 "data": "not base64 !!"}, headers={"Content-Type": JSON})
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"
