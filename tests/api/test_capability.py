"""GET /metadata: the CapabilityStatement is built from the registry and matches capability_statement.json."""
from __future__ import annotations

import json
from pathlib import Path

from fhir_server.registry import RESOURCES

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_metadata_matches_the_committed_file(http, base):
    served = http.get(f"{base}/metadata", headers={"Accept": "application/fhir+json"}).json()
    committed = json.loads((REPO_ROOT / "capability_statement.json").read_text(encoding="utf-8"))
    assert served == committed, "capability_statement.json is stale: run `fhir-server capability`"


def test_metadata_declares_what_the_server_does(http, base):
    statement = http.get(f"{base}/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert {"application/fhir+json", "application/fhir+xml"} <= set(statement["format"])
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == set(RESOURCES)
    assert {"read", "vread", "update", "patch", "delete", "create"} <= {i["code"] for i in resources["Patient"]["interaction"]}
    audit = {i["code"] for i in resources["AuditEvent"]["interaction"]}
    assert audit == {"read", "vread", "history-instance", "search-type"}  # recorded by the server only


def test_declared_interactions_are_routed_and_undeclared_ones_refused(http, base):
    """For each type the statement lists: read answers (404 for an unknown id), search answers a searchset
    exactly when search-type is declared, and update is refused with 405 when it is not declared."""
    statement = http.get(f"{base}/metadata").json()
    for resource in statement["rest"][0]["resource"]:
        name = resource["type"]
        declared = {i["code"] for i in resource["interaction"]}
        response = http.get(f"{base}/{name}/does-not-exist")
        assert response.status_code == 404
        assert "not known" in response.json()["issue"][0]["diagnostics"]
        searched = http.get(f"{base}/{name}", params={"_count": 1})
        if name in ("Consent", "AuditEvent"):  # the patient's own: a professional's token is refused
            assert searched.status_code == 403, name
        elif "search-type" in declared:
            assert searched.status_code == 200 and searched.json()["type"] == "searchset", name
        else:
            assert searched.status_code == 405, name
        if "update" not in declared:
            refused = http.put(f"{base}/{name}/x", json={"resourceType": name, "id": "x"},
                               headers={"Content-Type": "application/fhir+json"})
            assert refused.status_code == 405, name
