"""Index values computed on write: resource -> {field: values}, from each SearchParameter's FHIRPath expression.

Field names are `<prefix>:<code>`; the query side relies on this exact representation:
- string: `s:` normalised texts (text.normalise), `e:` the exact texts. HumanName and Address give one text per
  part (family, each given, prefix, suffix, text; each line, city, district, state, postalCode, country, text).
- token: `t:` `"<system>|<code>"`, `"<code>"`, `"<system>|"` for Coding, CodeableConcept (each coding),
  Identifier and ContactPoint (value as code); a primitive gives itself and `"|<value>"`; booleans `"true"` /
  `"false"`; `_id` only the id. `x:` normalised display texts (for `:text`); `o:` `"<type system>|<type
  code>|<value>"` per Identifier.type coding (for `:of-type`).
- reference: `r:` `"Type/id"` and `"id"` for a relative reference (no `/_history`), an absolute URL or a
  canonical as is (contained `#` references skipped); `ri:` Reference.identifier in the token format.
- date: `dl:` lowest start and `dh:` highest end over all values: ONE string each, `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
- uri: `u:`; number: `n:` floats; quantity: `n:` floats of the value and `q:` `"<system>|<code>"`, `"|<unit>"`.
Every other field is a sorted list of distinct values; empty fields are left out. Composite and special
parameters are not indexed.
"""
from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from .extractors import Extractor
from .registry import SearchParam, parameters, split_union
from .text import normalise

LOWEST = "0001-01-01T00:00:00.000Z"
HIGHEST = "9999-12-31T23:59:59.999Z"
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
                   r"(Z|[+-]\d{2}:\d{2})?)?)?)?")
_RESOLVE_IS = re.compile(r"\.where\(resolve\(\) is (\w+)\)")
_REFERENCE = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?")
_REFERENCE_TAIL = re.compile(rf"(?:^|/){_REFERENCE.pattern}$")
_STRING_PARTS = ("family", "given", "prefix", "suffix", "line", "city", "district", "state", "postalCode",
                 "country", "text")

Fields = dict[str, set]


def _utc_text(moment: datetime) -> str:
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


def date_range(text: str) -> tuple[str, str]:
    """The UTC range `(low, high)` a FHIR date, dateTime or instant covers at its precision ("2020" is the whole
    year); a time without a timezone is taken as UTC. Raises ValueError for an invalid date."""
    match = _DATE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"invalid date: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        y, m = int(year), int(month or 1)
        if day is None:
            low = datetime(y, m, 1)
            end_month = m if month else 12
            high = datetime(y, end_month, calendar.monthrange(y, end_month)[1], 23, 59, 59, 999000)
        elif hour is None:
            low = datetime(y, m, int(day))
            high = low.replace(hour=23, minute=59, second=59, microsecond=999000)
        else:
            millis = int((fraction or "0")[:3].ljust(3, "0"))
            low = datetime(y, m, int(day), int(hour), int(minute), int(second or 0), millis * 1000)
            high = low.replace(second=59 if second is None else low.second,
                               microsecond=999000 if fraction is None else low.microsecond)
            if zone and zone != "Z":
                offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
                offset = -offset if zone[0] == "-" else offset
                low, high = low - offset, high - offset
    except (ValueError, OverflowError) as error:
        raise ValueError(f"invalid date: {text!r}") from error
    return _utc_text(low), _utc_text(high)


def _coding_tokens(system: str | None, code: object) -> list[str]:
    tokens = [f"{system or ''}|{code}", str(code)] if code not in (None, "") else []
    return tokens + [f"{system}|"] if system else tokens


def _index_tokens(code: str, values: Iterable, fields: Fields, prefix: str = "t") -> None:
    """Coding, CodeableConcept, Identifier, ContactPoint and primitives; `prefix` is `ri` for Reference.identifier."""
    for value in values:
        if isinstance(value, bool):
            fields[f"{prefix}:{code}"].add("true" if value else "false")
        elif isinstance(value, (str, int, float)):
            fields[f"{prefix}:{code}"].update([str(value)] if code == "_id" else [str(value), f"|{value}"])
        elif isinstance(value, dict):
            key = value.get("code", value.get("value"))
            key = key if isinstance(key, (str, int, float)) and not isinstance(key, bool) else None
            fields[f"{prefix}:{code}"].update(_coding_tokens(value.get("system"), key))
            for coding in value.get("coding", []):
                fields[f"{prefix}:{code}"].update(_coding_tokens(coding.get("system"), coding.get("code")))
            texts = [value.get("text"), value.get("display")] + [c.get("display") for c in value.get("coding", [])]
            kind = value.get("type")
            if isinstance(kind, dict) and prefix == "t":
                texts.append(kind.get("text"))
                fields[f"o:{code}"].update(f"{c.get('system', '')}|{c.get('code', '')}|{value['value']}"
                                           for c in kind.get("coding", []) if value.get("value"))
            if prefix == "t":
                fields[f"x:{code}"].update(normalise(t) for t in texts if isinstance(t, str) and normalise(t))


def _index_strings(code: str, values: Iterable, fields: Fields) -> None:
    for value in values:
        parts = [value.get(k) for k in _STRING_PARTS] if isinstance(value, dict) else [value]
        for part in parts:
            for text in part if isinstance(part, list) else [part]:
                if isinstance(text, str) and text.strip():
                    fields[f"s:{code}"].add(normalise(text))
                    fields[f"e:{code}"].add(text)


def _reference_type(value: object) -> str | None:
    if not isinstance(value, dict):
        return None
    match = _REFERENCE_TAIL.search(value.get("reference") or "")
    return match.group(1) if match else value.get("type")


def _index_references(code: str, values: Iterable, fields: Fields) -> None:
    for value in values:
        if isinstance(value, str):
            fields[f"r:{code}"].add(value)
            continue
        reference = value.get("reference") if isinstance(value, dict) else None
        if reference and not reference.startswith("#"):
            match = _REFERENCE.fullmatch(reference)
            fields[f"r:{code}"].update([f"{match[1]}/{match[2]}", match[2]] if match else [reference])
        if isinstance(value, dict) and isinstance(value.get("identifier"), dict):
            _index_tokens(code, [value["identifier"]], fields, prefix="ri")


def _ranges(value: object) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [date_range(value)]
    if isinstance(value, dict) and "event" in value:
        return [date_range(event) for event in value["event"]]
    if isinstance(value, dict) and ("start" in value or "end" in value):
        low = date_range(value["start"])[0] if value.get("start") else LOWEST
        return [(low, date_range(value["end"])[1] if value.get("end") else HIGHEST)]
    return []


def _index_dates(code: str, values: Iterable, fields: Fields) -> None:
    ranges = []
    for value in values:
        try:
            ranges += _ranges(value)
        except ValueError:
            continue  # an invalid date is the validator's business, not the index's
    if ranges:
        fields[f"dl:{code}"] = min(low for low, _ in ranges)
        fields[f"dh:{code}"] = max(high for _, high in ranges)


def _index_uris(code: str, values: Iterable, fields: Fields) -> None:
    fields[f"u:{code}"].update(v for v in values if isinstance(v, str))


def _index_numbers(code: str, values: Iterable, fields: Fields) -> None:
    fields[f"n:{code}"].update(float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))


def _index_quantities(code: str, values: Iterable, fields: Fields) -> None:
    for value in values:
        if isinstance(value, dict):
            _index_numbers(code, [value.get("value")], fields)
            fields[f"q:{code}"].update(([f"{value.get('system', '')}|{value['code']}"] if value.get("code") else [])
                                       + ([f"|{value['unit']}"] if value.get("unit") else []))


_INDEXERS: dict[str, Callable[[str, Iterable, Fields], None]] = {
    "string": _index_strings, "token": _index_tokens, "reference": _index_references, "date": _index_dates,
    "uri": _index_uris, "number": _index_numbers, "quantity": _index_quantities,
}


@lru_cache(maxsize=None)
def _compiled(resource_type: str) -> tuple[tuple[SearchParam, tuple[tuple[Extractor, str | None], ...]], ...]:
    """Each indexed parameter with its expression parts compiled once (extractors.py): `X.where(resolve() is
    T)` becomes `X` plus the type T its references must have (resolve() is not evaluated); `Resource.`
    becomes the type."""
    result = []
    for param in parameters(resource_type).values():
        if param.type not in _INDEXERS or not param.expression:
            continue
        paths = []
        for part in split_union(param.expression):
            only = _RESOLVE_IS.search(part)
            part = re.sub(r"^(\(*)Resource\.", rf"\g<1>{resource_type}.", _RESOLVE_IS.sub("", part))
            paths.append((Extractor(part), only.group(1) if only else None))
        result.append((param, tuple(paths)))
    return tuple(result)


def index_fields(resource_type: str, resource: dict) -> dict[str, list]:
    """The search index values of `resource` (see the module docstring for the representation)."""
    fields: Fields = defaultdict(set)
    for param, paths in _compiled(resource_type):
        values: list = []
        for evaluate, only in paths:
            found = evaluate(resource)
            values += [v for v in found if _reference_type(v) == only] if only else found
        _INDEXERS[param.type](param.code, values, fields)
    return {name: value if isinstance(value, str) else sorted(value)
            for name, value in sorted(fields.items()) if value}
