"""Behind a proxy, FHIR_BASE_URL gives the public base used in Location and Bundle links."""
from __future__ import annotations

from fhir_server import create_app
from tests.conftest import app_client


def test_configured_base_url_is_used_in_location_and_links(database):
    uri, name = database
    app = create_app({"mongodb_uri": uri, "database_name": name, "base_url": "https://record.example.org/fhir/"})
    client, token = app_client(app)
    created = client.post("/fhir/Patient", json={"resourceType": "Patient"},
                          headers={"Content-Type": "application/fhir+json", **token})
    assert created.status_code == 201
    resource_id = created.get_json()["id"]
    assert created.headers["Location"] == f"https://record.example.org/fhir/Patient/{resource_id}/_history/1"
    history = client.get(f"/fhir/Patient/{resource_id}/_history", headers=token).get_json()
    assert history["entry"][0]["fullUrl"] == f"https://record.example.org/fhir/Patient/{resource_id}"
    assert history["link"][0]["url"].startswith(f"https://record.example.org/fhir/Patient/{resource_id}/_history?")
