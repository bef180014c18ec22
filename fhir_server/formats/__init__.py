"""FHIR R4 wire formats, pure (no Flask, no pymongo).

`fhir_json` reads and writes JSON text keeping decimal digits; `structure` indexes the official
StructureDefinitions (names, cardinality, types); `xml` converts XML <-> JSON with them, helped by
`primitives` (value attributes) and `xhtml` (safe parsing, Narrative.div).
"""
from __future__ import annotations


class FhirFormatError(ValueError):
    """Input that is not valid FHIR JSON/XML; `path` names the element (``Patient.name[0].given``) or is ""."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path
