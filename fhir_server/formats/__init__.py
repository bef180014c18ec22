"""FHIR R4 wire formats: XML <-> JSON conversion driven by the official StructureDefinitions.

`structure` indexes the element definitions (names, cardinality, types); `xml` converts both ways.
Neither imports Flask or pymongo.
"""
from __future__ import annotations


class FhirFormatError(ValueError):
    """Input that is not valid FHIR JSON/XML; `path` names the element (``Patient.name[0].given``) or is ""."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path
