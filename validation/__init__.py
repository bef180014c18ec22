"""Resource validation against the FHIR R4 (4.0.1) structure: pure functions, no web framework.

`validate_resource(resource)` returns every problem found as an `Issue` with its element path; it never
raises for invalid input.
"""
