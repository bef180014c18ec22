"""FHIR primitive values between their JSON form (string, number, boolean) and their XML `value` text.

Decimals read from XML are `fhir_json.FhirDecimal` (ints when written without '.' or exponent), as
`fhir_json.loads` gives them, so their digits survive: ``1.50`` stays ``1.50`` in both formats.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal

from . import FhirFormatError
from .fhir_json import FhirDecimal

BOOLEAN_TYPES = frozenset({"boolean"})
INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
DECIMAL_TYPES = frozenset({"decimal"})

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")  # a JSON number
_INT32 = (-2**31, 2**31 - 1)
_EXPONENT_ZEROS = re.compile(r"e([+-]?)0+(?=[0-9])")


def to_text(value: object, type_code: str, path: str) -> str:
    """The XML `value` text of a JSON primitive."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FhirFormatError(f"The number {value} is not a valid {type_code}", path)
        return _EXPONENT_ZEROS.sub(r"e\1", repr(value))  # 1e-05 -> 1e-5, as the FHIR decimal pattern wants
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise FhirFormatError(f"The number {value} is not a valid {type_code}", path)
        return str(value)
    kind = "an object" if isinstance(value, dict) else "an array" if isinstance(value, list) else repr(value)
    raise FhirFormatError(f"Expected a primitive {type_code} value, found {kind}", path)


def from_text(text: str, type_code: str, path: str) -> object:
    """The JSON value of an XML `value` attribute: booleans and numbers typed, everything else a string."""
    if type_code in BOOLEAN_TYPES:
        if text in ("true", "false"):
            return text == "true"
        raise FhirFormatError(f"Boolean values must be 'true' or 'false', not '{text}'", path)
    if type_code in INTEGER_TYPES:
        stripped = text.strip()
        if not _INTEGER.fullmatch(stripped) or not _INT32[0] <= int(stripped) <= _INT32[1]:
            raise FhirFormatError(f"The value '{text}' is not a valid {type_code}", path)
        return int(stripped)
    if type_code in DECIMAL_TYPES:
        stripped = text.strip()
        if not _DECIMAL.fullmatch(stripped):
            raise FhirFormatError(f"The value '{text}' is not a valid decimal", path)
        if "." in stripped or "e" in stripped or "E" in stripped:
            return FhirDecimal(stripped)  # keeps its digits: 1.50 is written back as 1.50
        return int(stripped)
    return text
