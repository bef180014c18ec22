"""The fields of a message that the mapping never read, each named in a warning: an AA then means that all
the message carries took effect, or was named as not used (issue 18). Segments remember the fields read
(message.py); tables.json `unmapped` gives the structural fields never named and the fields' names."""
from __future__ import annotations

from ..errors import MappingError
from .message import Message, Segment
from .tables import TABLES

_UNMAPPED = TABLES["unmapped"]
CODE = "207"  # as the other requests this server does not act on (lifecycle.py)


def unmapped_warnings(message: Message) -> list[MappingError]:
    """One warning per segment and field that has a value the mapping never read, in message order: the
    first `listed` (tables.json) one by one, then one warning that counts the others."""
    found = [(segment, number) for segment in message.segments for number in segment.unread()
             if number not in _UNMAPPED["structural"].get(segment.name, ())]
    listed = _UNMAPPED["listed"]
    warnings = [MappingError(f"{_name(segment, number)} is not used by this server: left out", CODE,
                             segment.at(number)) for segment, number in found[:listed]]
    rest = found[listed:]
    if rest:
        first, number = rest[0]
        warnings.append(MappingError(f"and {len(rest)} more fields are not used by this server (from "
                                     f"{first.at(number)} on): left out", CODE))
    return warnings


def _name(segment: Segment, number: int) -> str:
    """`PV1-19 (visit number)`, or the bare location of a field the tables do not name."""
    names = _UNMAPPED["fields"].get(segment.name, [])
    return f"{segment.at(number)} ({names[number - 1]})" if number <= len(names) else segment.at(number)
