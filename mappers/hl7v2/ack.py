"""ack: the original-mode acknowledgment (ACK) of a received message, with ERR segments for an error or warnings."""
from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from ..errors import MappingError
from .encoding import Separators, codec, declared_charset, escape, segment_text
from .tables import TABLES

class ApplicationError(MappingError):
    """A message understood but not acted on (HL7 table 0357 code 207): `application` is its code in the
    ANS table applicationErrorCondition (tables.json), written in ERR-5."""

    def __init__(self, message: str, application: str, location: str | None = None) -> None:
        super().__init__(message, "207", location)
        self.application = application


_LOCATION = re.compile(r"([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+)(?:\((\d+)\))?(?:\.(\d+)(?:\.(\d+))?)?)?")
_VERSION = re.compile(r"(\d+)\.(\d+)")


def ack(message: bytes | str, error: MappingError | None = None, *, warnings: Sequence[MappingError] = (),
        control_id: str | None = None, now: datetime | None = None) -> str:
    """The ACK of `message`: MSA AA without error, with an ERR segment of severity W per warning; with an
    error, AR when the message is rejected (unsupported type, event, processing id or version; a faulty or
    unreadable header), AE otherwise, and an ERR segment (location, table 0357 code, severity E, message).
    The header is read leniently: an unreadable message still gets an AR, from defaults. Versions before 2.5
    also get the error in MSA-3 and ERR-1."""
    header = _Header(message)
    if error is None and not header.readable:
        error = MappingError("The message has no readable MSH segment", "100")
    separators = header.separators
    version = header.field(12) or "2.5"
    trigger = header.field(9).split(separators.component)[1:2]
    charset = header.field(18) if header.field(18) in TABLES["charsets"] else ""
    stamp = (now or datetime.now(ZoneInfo(TABLES["timezone"]))).strftime("%Y%m%d%H%M%S%z")
    msh = ["MSH", separators.encoding_characters, header.field(5), header.field(6), header.field(3),
           header.field(4), stamp, "", separators.component.join(["ACK", *trigger, "ACK"] if trigger else ["ACK"]),
           control_id or uuid.uuid4().hex[:20].upper(), header.field(11) or "P", version,
           "", "", "", "", "", charset]
    older = _older_than_2_5(version)
    if error is None:
        errs = [_err(warning, "W", separators, charset, older) for warning in warnings]
        return "".join(segment_text(segment, separators) for segment in (msh, ["MSA", "AA", header.field(10)], *errs))
    rejected = (TABLES["errors"].get(error.code, {}).get("ack") == "AR" or (error.location or "").startswith("MSH")
                or not header.readable)
    text = escape(_fit(error.message, codec(charset)), separators)
    msa = ["MSA", "AR" if rejected else "AE", header.field(10), text if older else ""]
    err = _err(error, "E", separators, charset, older)
    return "".join(segment_text(segment, separators) for segment in (msh, msa, err))


def _err(problem: MappingError, severity: str, separators: Separators, charset: str, older: bool) -> list[str]:
    """ERR: (before 2.5: ERR-1 location and code), ERR-2 location, ERR-3 table 0357 code, ERR-4 severity,
    ERR-5 the application error code (an ApplicationError), ERR-8 the message for a person."""
    code = problem.code if problem.code in TABLES["errors"] else TABLES["fallback_error"]
    c, s = separators.component, separators.subcomponent
    coded = [code, TABLES["errors"][code]["text"], "HL70357"]
    where = _erl(problem.location)
    eld = c.join([*(where[:3] or ["", "", ""]), s.join(coded)]) if older else ""
    text = escape(_fit(problem.message, codec(charset)), separators)
    return ["ERR", eld, c.join(where).rstrip(c), c.join(coded), severity, _application(problem, separators, charset),
            "", "", text]


def _application(problem: MappingError, separators: Separators, charset: str) -> str:
    """ERR-5 of an ApplicationError: code ^ label ^ applicationErrorCondition."""
    code = getattr(problem, "application", None)
    table = TABLES["application_errors"]
    if code not in table["codes"]:
        return ""
    label = escape(_fit(table["codes"][code], codec(charset)), separators)
    return separators.component.join([code, label, table["coding_system"]])


class _Header:
    """The MSH fields of a message as sent (escaped), read leniently; defaults when there is no MSH."""

    def __init__(self, message: bytes | str) -> None:
        if isinstance(message, bytes):
            first = re.split(rb"[\r\n]", message.lstrip(), maxsplit=1)[0]
            try:
                text = first.decode(codec(declared_charset(first.decode("latin-1"))))
            except (MappingError, UnicodeDecodeError):
                text = first.decode("latin-1")
        else:
            text = re.split(r"[\r\n]", message.lstrip(), maxsplit=1)[0]
        self.readable = text.startswith("MSH")
        try:
            self.separators = Separators.of(text)
        except MappingError:
            self.separators = Separators()
            self.readable = self.readable and text.startswith("MSH|")
        self._fields = text.split(self.separators.field) if self.readable else []

    def field(self, number: int) -> str:
        """MSH-n (n >= 2) as sent; '' when absent."""
        return self._fields[number - 1] if 1 < number <= len(self._fields) else ""


def _erl(location: str | None) -> list[str]:
    """ERR-2 of a location (`OBX[2]-5(1).5`): segment id, sequence, field, repetition, component, subcomponent."""
    where = _LOCATION.fullmatch(location or "")
    if where is None:
        return []
    name, sequence, field, repetition, component, sub = where.groups()
    return [name, sequence or "1", field or "", (repetition or "1") if field else "", component or "", sub or ""]


def _older_than_2_5(version: str) -> bool:
    """Versions before 2.5 carry the error in MSA-3 and ERR-1 (ERR-2 and later came with 2.5)."""
    match = _VERSION.match(version)
    return match is not None and (int(match[1]), int(match[2])) < (2, 5)


def _fit(text: str, charset: str) -> str:
    """`text` with what the ACK's charset cannot write replaced by '?'."""
    return text.encode(charset, "replace").decode(charset)

