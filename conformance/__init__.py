"""A conformance suite run against any FHIR R4 server over HTTP only (requests); imports nothing from
fhir_server."""
