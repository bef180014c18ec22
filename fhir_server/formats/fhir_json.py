"""FHIR JSON text (R4 json.html): decimals keep the digits they were written with (1.50 stays 1.50,
since precision is significant in FHIR); duplicate properties and NaN/Infinity are refused."""
from __future__ import annotations

from decimal import Decimal

import simplejson


class FhirDecimal(Decimal):
    """A decimal that remembers its JSON text, so that writing it back gives the same digits."""

    __slots__ = ("text",)

    def __new__(cls, text: str) -> "FhirDecimal":
        value = super().__new__(cls, text)
        value.text = text
        return value

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"FhirDecimal({self.text!r})"


class JsonSyntaxError(ValueError):
    """The text is not acceptable FHIR JSON; the message says why and where."""


def _object(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise JsonSyntaxError(f"duplicate property '{key}'")
        result[key] = value
    return result


def _constant(name: str) -> None:
    raise JsonSyntaxError(f"{name} is not a JSON number")


def loads(data: bytes | str) -> object:
    """Parses JSON text; raises JsonSyntaxError for anything that is not strict JSON."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise JsonSyntaxError("the body is not UTF-8 text")
    try:
        return simplejson.loads(text, object_pairs_hook=_object, parse_float=FhirDecimal,
                                parse_constant=_constant)
    except JsonSyntaxError:
        raise
    except (ValueError, RecursionError) as e:
        raise JsonSyntaxError(str(e) or e.__class__.__name__)


def dumps(value: object, pretty: bool = False) -> str:
    return simplejson.dumps(value, use_decimal=True, ensure_ascii=False, indent=2 if pretty else None,
                            separators=(",", ": ") if pretty else (",", ":"))
