"""One HL7 v2 message read with python-hl7: envelope checks, segments, values unescaped; batches split."""
from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass
from typing import AnyStr

import hl7

from ..errors import MappingError
from .encoding import Separators, codec, declared_charset, decode, unescape
from .tables import TABLES

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_LINES = re.compile(r"\r\n|\r|\n")
_ENVELOPE = ("MSH", "FHS", "BHS", "BTS", "FTS")
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mappers:hl7v2")  # of the urn:uuid fullUrls made here
_NULL = '""'  # HL7's explicit null: no value


class Value(tuple):
    """One repetition of a field: its components, each a tuple of subcomponents (unescaped)."""

    def get(self, component: int = 1, sub: int = 1) -> str:
        """A component (1-based) or one of its subcomponents; '' when absent."""
        if component > len(self) or sub > len(self[component - 1]):
            return ""
        return self[component - 1][sub - 1]

    def __bool__(self) -> bool:
        return any(any(subs) for subs in self)


@dataclass(frozen=True)
class Segment:
    name: str
    position: int  # 0-based rank in the message
    occurrence: int  # 1-based rank among the message's segments of this name
    fields: tuple[tuple[Value, ...], ...]  # fields[n]: the repetitions of field n; fields[0]: the name
    read: set[int] = dataclasses.field(default_factory=set, compare=False, repr=False)  # fields the mapping read

    def repetitions(self, field: int) -> tuple[Value, ...]:
        """The repetitions of a field, which counts from now on as read (taken into account)."""
        self.read.add(field)
        return self.fields[field] if field < len(self.fields) else ()

    def taken(self, *fields: int) -> None:
        """Count fields as taken into account without mapping their values: a value a specification fixes,
        or one that a warning names already."""
        self.read.update(fields)

    def unread(self) -> list[int]:
        """The numbers of the fields that have a value and were never read."""
        return [number for number in range(1, len(self.fields))
                if number not in self.read and any(self.fields[number])]

    def get(self, field: int, component: int = 1, sub: int = 1) -> str:
        """A value of the field's first repetition."""
        repetitions = self.repetitions(field)
        return repetitions[0].get(component, sub) if repetitions else ""

    def at(self, field: int, repetition: int = 1, component: int | None = None, sub: int | None = None) -> str:
        """A location in this segment (see `location`)."""
        return location(self.name, self.occurrence, field, repetition, component, sub)


def location(name: str, occurrence: int, field: int, repetition: int = 1, component: int | None = None,
             sub: int | None = None) -> str:
    """A location, as `PID-3`, `OBX[2]-5.5`, `PID-3(2).4.2` (ack.py reads it back into ERR-2)."""
    where = f"{name}{f'[{occurrence}]' if occurrence > 1 else ''}-{field}"
    where += f"({repetition})" if repetition > 1 else ""
    return where + (f".{component}" if component else "") + (f".{sub}" if component and sub else "")


@dataclass(frozen=True)
class Message:
    separators: Separators
    segments: tuple[Segment, ...]

    @property
    def header(self) -> Segment:
        return self.segments[0]

    def all(self, name: str) -> list[Segment]:
        return [segment for segment in self.segments if segment.name == name]

    def first(self, name: str) -> Segment | None:
        return next((segment for segment in self.segments if segment.name == name), None)

    @property
    def sender(self) -> str:
        """Who assigns the ids given without an OID: the sending facility (MSH-4), else application (MSH-3)."""
        header = self.header
        return next((part for part in (header.get(4, 1), header.get(4, 2), header.get(3, 1), header.get(3, 2))
                     if part), "")

    def full_url(self, segment: Segment, resource_type: str) -> str:
        """The urn:uuid of the resource mapped from a segment: the same for the same message control id."""
        name = f"{self.header.get(10)}|{segment.position}|{resource_type}"
        return f"urn:uuid:{uuid.uuid5(_NAMESPACE, name)}"


def parse(message: bytes | str) -> Message:
    """The message, checked: it starts with a valid MSH, holds only well-formed segments, names its type,
    control id and a supported version. MappingError (HL7 table 0357 code) otherwise."""
    text = decode(message) if isinstance(message, bytes) else message
    charset = codec(declared_charset(text))
    lines = [line for line in _LINES.split(text.strip()) if line.strip()]
    if not lines or not lines[0].startswith("MSH"):
        raise MappingError("The message does not start with an MSH segment", "100")
    separators = Separators.of(lines[0])
    for number, line in enumerate(lines[1:], start=2):
        if not _SEGMENT_ID.fullmatch(line[:3]) or line[3:4] not in ("", separators.field):
            raise MappingError(f"Segment {number} ({line[:12]!r}...) does not start with a segment id", "100")
        if line[:3] in _ENVELOPE:
            raise MappingError(f"Segment {number} is an {line[:3]}: one message is expected (batch_messages splits "
                               "batches)", "100")
    try:
        tree = hl7.parse("\r".join(lines))
    except Exception as error:  # python-hl7 raises assorted types; the checks above should leave none
        raise MappingError(f"The message cannot be parsed: {error}", "100") from None
    parsed = Message(separators, _segments(tree, separators, charset))
    _check_header(parsed.header)
    return parsed


def _segments(tree: hl7.Message, separators: Separators, charset: str) -> tuple[Segment, ...]:
    counts: dict[str, int] = {}
    segments = []
    for position, node in enumerate(tree):
        name = str(node[0])
        counts[name] = counts.get(name, 0) + 1
        fields: list[tuple[Value, ...]] = [(Value(((name,),)),)]
        for number, field in enumerate(node[1:], start=1):
            if name == "MSH" and number <= 2:  # the separators themselves
                fields.append((Value(((str(field),),)),))
                continue
            where = location(name, counts[name], number)
            fields.append(tuple(_value(repetition, separators, charset, where) for repetition in field))
        segments.append(Segment(name, position, counts[name], tuple(fields)))
    return tuple(segments)


def _value(node: str | hl7.Repetition, separators: Separators, charset: str, where: str) -> Value:
    """A python-hl7 repetition (or a bare string) as components of subcomponents, unescaped."""
    def clean(text: str) -> str:
        return "" if text == _NULL else unescape(text, separators, charset, where)

    if isinstance(node, str):
        return Value(((clean(node),),))
    return Value(tuple((clean(part),) if isinstance(part, str) else tuple(clean(sub) for sub in part)
                       for part in node))


def _check_header(msh: Segment) -> None:
    for field, component, what in ((9, 1, "message type"), (9, 2, "trigger event"), (10, 1, "message control id"),
                                   (12, 1, "version id")):
        if not msh.get(field, component):
            raise MappingError(f"MSH-{field} ({what}) is required", "101", msh.at(field, component=component))
    if msh.get(12) not in TABLES["versions"]:
        raise MappingError(f"HL7 version {msh.get(12)!r} is not supported ({', '.join(TABLES['versions'])})",
                           "203", "MSH-12")


def batch_messages(data: AnyStr) -> list[AnyStr]:
    """The messages (CR-separated, of the type given) of a batch or file (FHS, BHS ... BTS, FTS), of messages
    in a row or of a single message. MappingError 100 for segments outside a message or misplaced headers."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data  # byte for byte, split on \r and \n only
    messages: list[list[str]] = []
    current: list[str] | None = None
    in_batch = False
    for number, line in enumerate((line for line in _LINES.split(text.strip()) if line.strip()), start=1):
        kind = line[:3]
        if kind == "FHS" and number > 1:
            raise MappingError(f"Segment {number} is an FHS: a file has one header, first", "100")
        if kind == "BHS" and in_batch:
            raise MappingError(f"Segment {number} is a BHS inside a batch (no BTS before it)", "100")
        if kind in ("FHS", "FTS", "BHS", "BTS"):
            in_batch = kind == "BHS"
            current = None
        elif kind == "MSH":
            current = [line]
            messages.append(current)
        elif current is None:
            raise MappingError(f"Segment {number} ({line[:12]!r}...) comes before any MSH segment", "100")
        else:
            current.append(line)
    if not messages:
        raise MappingError("No MSH segment: this is not an HL7 v2 message, batch or file", "100")
    texts = ["\r".join(lines) + "\r" for lines in messages]
    return [t.encode("latin-1") for t in texts] if isinstance(data, bytes) else texts  # type: ignore[return-value]
