"""What a mapper raises when a message or document cannot be turned into FHIR."""
from __future__ import annotations


class MappingError(ValueError):
    """Input that cannot be mapped: `code` says why in the sender's terms where it has them (an HL7 v2 error
    code, an XDS error code...), `message` says what is wrong and where, for a person."""

    def __init__(self, message: str, code: str = "invalid", location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.location = location
