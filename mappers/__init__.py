"""Vendor formats (HL7 v2, CDA R2, IHE XDS.b) to FHIR and back: pure, deterministic, one format per folder.

Nothing here imports Flask or fhir_server.
"""
