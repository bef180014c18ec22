"""The CapabilityStatement, built from the registry that routes requests.

`fhir-server capability` writes it to capability_statement.json; a test checks the file matches what
GET /fhir/metadata serves.
"""
from __future__ import annotations

from importlib.metadata import version

from validation.definitions import FHIR_VERSION

from .registry import OPERATIONS, OPERATIONS_DOCUMENTATION, RESOURCES, SYSTEM_OPERATIONS
from .search.registry import parameters
from .service.profiles import supported_profiles

# Parameter types the query side understands (composite and special ones are not served).
SUPPORTED_TYPES = ("string", "token", "reference", "date", "uri", "number", "quantity")

RELEASE_DATE = "2026-11-23"
FORMATS = ["application/fhir+json", "application/fhir+xml", "json", "xml"]


def capability_statement() -> dict:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASE_DATE,
        "publisher": "fhir-server contributors",
        "kind": "instance",
        "software": {"name": "fhir-server", "version": version("fhir-server")},
        "implementation": {"description": "FHIR R4 server for a national shared health record"},
        "fhirVersion": FHIR_VERSION,
        "format": FORMATS,
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": False,
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                         "code": "SMART-on-FHIR"}]}],
                "description": "OAuth 2 access tokens (SMART Backend Services: client_credentials with a "
                               "private_key_jwt assertion naming the professional) for referenced software only; "
                               "SMART v2 scopes checked on every interaction. Endpoints: "
                               "/.well-known/smart-configuration."},
            "resource": [_resource(kind) for kind in RESOURCES.values()],
            "interaction": [{"code": "transaction", "documentation": "All entries or none (storage/transactions.py)"},
                            {"code": "batch"}],
            "operation": [{"name": name, "definition": url, "documentation": OPERATIONS_DOCUMENTATION[name]}
                          for name, url in OPERATIONS.items()] + [
                {"name": name, "definition": url, "documentation": text}
                for name, (url, text) in SYSTEM_OPERATIONS.items()],
        }],
    }


def _resource(kind) -> dict:
    writable = kind.supports("update")
    searched = kind.supports("search-type")
    entry = {
        "type": kind.name,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{kind.name}",
        "documentation": kind.documentation,
        "interaction": [{"code": code} for code in kind.interactions],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": writable,
        "conditionalCreate": searched,
        "conditionalRead": "full-support",
        "conditionalUpdate": searched and writable,
        "conditionalDelete": "single" if searched and writable else "not-supported",
    }
    profiles = supported_profiles(kind.name)
    if profiles:
        entry["supportedProfile"] = profiles
    if searched:
        references = {name: [p for p in parameters(name).values() if p.type == "reference"]
                      for name in RESOURCES if RESOURCES[name].supports("search-type")}
        entry["searchInclude"] = [f"{kind.name}:{p.code}" for p in references[kind.name]]
        entry["searchRevInclude"] = [f"{source}:{p.code}" for source, params in references.items()
                                     for p in params if kind.name in p.targets]
        entry["searchParam"] = [
            {"name": p.code, "definition": p.url, "type": p.type, "documentation": p.description}
            for p in sorted(parameters(kind.name).values(), key=lambda p: p.code) if p.type in SUPPORTED_TYPES]
        entry["documentation"] += (" Search: chained parameters (3 levels) and _has, resolved by an inner search "
                                   "of at most 1000 linked resources.")
    entry["operation"] = [{"name": name, "definition": url} for name, url in (*OPERATIONS.items(), *kind.operations)]
    return entry
