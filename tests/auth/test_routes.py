"""Each guarded route has one declaration (api/routes.py), and it drives both the scope check and the audit
record: the URL map holds no route without one, a route without one is refused, and for a sample of routes
a token lacking any declared permission on any declared type is refused (403) and the refusal, like an
allowed request, is audited with the declared interaction and operation."""
from __future__ import annotations

import json
import uuid

import pytest
import requests

from fhir_server import create_app
from fhir_server.api import guard, routes
from fhir_server.api.routes import Route
from fhir_server.audit.events import ACTIONS
from fhir_server.auth.backend_client import register
from fhir_server.auth.scopes import PERMISSIONS
from fhir_server.registry import OPERATIONS, RESOURCES, SYSTEM_OPERATIONS
from tests.conftest import app_client

from ..api.client import JSON

# endpoint: (method, URL under the server's origin ({id}: a new id each time), permissions it needs, its
# AuditEvent's subtype codes (interaction, operation) and action (as BALP gives it))
SAMPLE = {
    "fhir.create": ("POST", "/fhir/Patient", "c", ["create"], "C"),
    "fhir.search": ("GET", "/fhir/Patient?_id={id}", "s", ["search-type"], "E"),
    "fhir.read": ("GET", "/fhir/Patient/{id}", "r", ["read"], "R"),
    "fhir.vread": ("GET", "/fhir/Patient/{id}/_history/1", "r", ["vread"], "R"),
    "fhir.update": ("PUT", "/fhir/Patient/{id}", "u", ["update"], "U"),
    "fhir.patch": ("PATCH", "/fhir/Patient/{id}", "u", ["patch"], "U"),
    "fhir.delete": ("DELETE", "/fhir/Patient/{id}", "d", ["delete"], "D"),
    "fhir.conditional_update": ("PUT", "/fhir/Organization?_id={id}", "us", ["update"], "U"),
    "fhir.instance_history": ("GET", "/fhir/Patient/{id}/_history", "r", ["history-instance"], "R"),
    "fhir.type_history": ("GET", "/fhir/Organization/_history", "s", ["history-type"], "R"),
    "fhir.everything": ("GET", "/fhir/Patient/{id}/$everything", "r", ["operation", "everything"], "E"),
    "fhir.validate_instance": ("GET", "/fhir/Patient/{id}/$validate", "r", ["operation", "validate"], "E"),
    "xds.repository": ("POST", "/xds/repository", "r", ["read"], "R"),
}


@pytest.fixture(scope="module")
def app(database):
    uri, name = database
    return create_app({"mongodb_uri": uri, "database_name": name})


def test_every_route_of_the_guarded_blueprints_is_declared(app):
    guarded = {blueprint for blueprint, hooks in app.before_request_funcs.items() if guard.authorize in hooks}
    assert guarded == {"fhir", "xds"}
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.rpartition(".")[0] in guarded]
    declared = {rule.rule: routes.declared(app.view_functions[rule.endpoint]) for rule in rules}
    assert [rule for rule, route in declared.items() if route is None] == []
    assert [rule for rule, route in declared.items() if route.public] == ["/fhir/metadata"]
    operations = {*OPERATIONS, *SYSTEM_OPERATIONS,
                  *(name for kind in RESOURCES.values() for name, _ in kind.operations)}
    for rule, route in declared.items():
        assert route.interaction in ACTIONS, rule  # an AuditEvent can be made of it
        assert set(route.needs) <= set(PERMISSIONS) and set(route.resource_types) <= set(RESOURCES), rule
        assert route.operation is None or route.operation in operations, rule  # the CapabilityStatement's
    assert set(SAMPLE) <= {rule.endpoint for rule in rules}


def test_a_route_without_a_declaration_is_refused_and_audited(database, db):
    """A view registered on the FHIR blueprint without a `Route` never runs; declared, the same view does."""
    uri, name = database
    app = create_app({"mongodb_uri": uri, "database_name": name})
    ran = []

    def probe(patient_id: str) -> dict:
        ran.append(patient_id)
        return {}
    app.add_url_rule("/fhir/Patient/<patient_id>/$undeclared", "fhir.undeclared", probe)
    app.add_url_rule("/fhir/Patient/<patient_id>/$declared", "fhir.declared",
                     Route("read", needs="r", resource_types=("Patient",))(lambda patient_id: probe(patient_id)))
    client, token = app_client(app)  # referenced software allowed everything (system/*.cruds)
    patient_id = str(uuid.uuid4())
    assert client.get(f"/fhir/Patient/{patient_id}/$undeclared").status_code == 401  # the token first
    refused = client.get(f"/fhir/Patient/{patient_id}/$undeclared", headers=token)
    assert refused.status_code == 403 and ran == []
    assert refused.get_json()["issue"][0]["diagnostics"] == (
        f"No access rule covers GET /fhir/Patient/{patient_id}/$undeclared")
    events = [json.loads(e["json"]) for e in db["AuditEvent"].find({"r:patient": f"Patient/{patient_id}"})]
    # Without a token, then refused; recorded as an operation (api/audit_trail.py UNDECLARED).
    assert [(e["outcome"], e["subtype"][0]["code"]) for e in events] == [("4", "operation")] * 2
    assert client.get(f"/fhir/Patient/{patient_id}/$declared", headers=token).status_code == 200
    assert ran == [patient_id]


def send(origin: str, method: str, path: str, headers: dict) -> requests.Response:
    """The sample's request, with a new id, and a body where the route takes one."""
    resource_id = str(uuid.uuid4())
    url = origin + path.format(id=resource_id)
    headers = {**headers, "Accept": JSON}
    if method == "PATCH":
        return requests.patch(url, data="[]", headers={**headers, "Content-Type": "application/json-patch+json"})
    if method in ("POST", "PUT") and path.startswith("/fhir"):
        body = {"resourceType": path.split("/")[2].partition("?")[0]}
        if "{id}" in path and "?" not in path:
            body["id"] = resource_id
        return requests.request(method, url, json=body, headers={**headers, "Content-Type": JSON})
    return requests.request(method, url, headers=headers)


def audited(db, client_id: str) -> list[dict]:
    """The AuditEvents of the requests made by one client."""
    return [json.loads(e["json"]) for e in db["AuditEvent"].find({"ri:agent": client_id})]


@pytest.mark.parametrize("endpoint", list(SAMPLE))
def test_the_declaration_drives_the_scope_check_and_the_audit_record(app, db, base, endpoint):
    method, path, needs, subtype, action = SAMPLE[endpoint]
    origin = base.removesuffix("/fhir")
    matched, args = app.url_map.bind("localhost").match(path.format(id="x").partition("?")[0], method)
    assert matched == endpoint
    route = routes.declared(app.view_functions[endpoint])
    assert route is not None
    assert (route.needs, [route.interaction] + ([route.operation] if route.operation else [])) == (needs, subtype)
    for resource_type in route.resource_types or (args["resource_type"],):
        for permission in route.needs:
            # Everything on every type but this one permission on this one type.
            lacking = [f"system/{t}.{PERMISSIONS}" for t in RESOURCES if t != resource_type] + [
                f"system/{resource_type}.{PERMISSIONS.replace(permission, '')}"]
            software = register(db, origin, f"Lacking {permission} on {resource_type}", ["system/*.cruds"])
            refused = send(origin, method, path, software.headers(" ".join(lacking)))
            assert refused.status_code == 403, refused.text
            assert refused.json()["issue"][0]["diagnostics"] == (
                f"The access token's scopes do not allow '{route.needs}' on {resource_type}")
            [event] = audited(db, software.client_id)
            assert [c["code"] for c in event["subtype"]] == subtype
            assert (event["action"], event["outcome"]) == (action, "4")
    software = register(db, origin, f"Holding {route.needs} only", ["system/*.cruds"])
    allowed = send(origin, method, path, software.headers(f"system/*.{route.needs}"))
    assert allowed.status_code != 401 and "scopes do not allow" not in allowed.text, allowed.text
    events = audited(db, software.client_id)
    assert events and all([c["code"] for c in e["subtype"]] == subtype and e["action"] == action for e in events)
