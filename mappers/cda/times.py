"""HL7 TS values (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) as FHIR date, dateTime and instant."""
from __future__ import annotations

import re
from datetime import datetime

from ..errors import MappingError

_TS = re.compile(r"(?P<year>\d{4})(?:(?P<month>\d{2})(?:(?P<day>\d{2})(?:(?P<hour>\d{2})(?:(?P<minute>\d{2})"
                 r"(?:(?P<second>\d{2})(?P<fraction>\.\d+)?)?)?)?)?)?(?P<zone>[+-]\d{4})?")
_ZONE = re.compile(r"[+-](0\d|1[0-4])[0-5]\d")
_FIELDS = (("year", 0), ("month", 1), ("day", 1), ("hour", 0), ("minute", 0), ("second", 0))


def _parse(value: str, where: str) -> tuple[str, str | None]:
    """(the date at its precision, the full time with its zone or None): FHIR wants a zone with any time,
    so a time without one is kept to its date."""
    match = _TS.fullmatch(value.strip())
    if match is None:
        raise MappingError(f"{where}: {value!r} is not an HL7 timestamp (YYYYMMDDHHMMSS+ZZZZ)", "value", where)
    zone = match["zone"]
    try:
        if zone and not _ZONE.fullmatch(zone):
            raise ValueError(zone)
        datetime(*(int(match[name] or default) for name, default in _FIELDS))
    except ValueError:
        raise MappingError(f"{where}: {value!r} is not a real date and time", "value", where) from None
    date = "-".join(match[name] for name in ("year", "month", "day") if match[name])
    if match["hour"] is None or not zone:
        return date, None
    return date, (f"{date}T{match['hour']}:{match['minute'] or '00'}:{match['second'] or '00'}"
                  f"{match['fraction'] or ''}{zone[:3]}:{zone[3:]}")


def fhir_date(value: str, where: str) -> str:
    return _parse(value, where)[0]


def fhir_datetime(value: str, where: str) -> str:
    date, full = _parse(value, where)
    return full or date


def fhir_instant(value: str, where: str) -> str | None:
    """The full time with its zone, or None when the TS lacks either."""
    return _parse(value, where)[1]
