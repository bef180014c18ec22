"""Small HTTP helpers the API tests share."""
from __future__ import annotations

JSON = "application/fhir+json"
HEADERS = {"Content-Type": JSON, "Accept": JSON}
STRICT = {"Accept": JSON, "Prefer": "handling=strict"}
INS = "urn:oid:1.2.250.1.213.1.4.8"
LOINC = "http://loinc.org"


def post(http, base: str, resource: dict) -> dict:
    """Creates `resource`, asserting 201; the stored resource."""
    response = http.post(f"{base}/{resource['resourceType']}", json=resource, headers=HEADERS)
    assert response.status_code == 201, response.text
    return response.json()


def search(http, base: str, resource_type: str, params, headers=None) -> dict:
    """A search asserting 200; the Bundle."""
    response = http.get(f"{base}/{resource_type}", params=params, headers=headers or {"Accept": JSON})
    assert response.status_code == 200, response.text
    return response.json()
