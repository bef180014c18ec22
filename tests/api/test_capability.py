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
    assert "update" not in audit and "delete" not in audit and "create" in audit


def test_declared_interactions_are_routed(http, base):
    """Each type the statement lists answers its create and read; undeclared ones are refused."""
    statement = http.get(f"{base}/metadata").json()
    for resource in statement["rest"][0]["resource"]:
        response = http.get(f"{base}/{resource['type']}/does-not-exist")
        assert response.status_code == 404
        assert "not known" in response.json()["issue"][0]["diagnostics"]
