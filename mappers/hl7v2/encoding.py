"""The character level of HL7 v2: charsets (MSH-18), encoding characters (MSH-1, MSH-2), escape sequences."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import MappingError
from .tables import TABLES

_SPECIAL = re.compile(r"[!-/:-@\[-`{-~]")  # printable ASCII, neither letter, digit nor space
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_LINE = re.compile(r"[\r\n]")


@dataclass(frozen=True)
class Separators:
    """MSH-1 and MSH-2: field, component, repetition, escape, subcomponent (and v2.7's truncation) characters."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @classmethod
    def of(cls, msh: str) -> Separators:
        """The separators an MSH segment declares; MappingError 102 when they are not usable."""
        field = msh[3:4]
        if not _SPECIAL.fullmatch(field):
            raise MappingError(f"MSH-1 {field!r} is not a field separator (a printable character, neither letter, "
                               "digit nor space)", "102", "MSH-1")
        end = msh.find(field, 4)
        characters = msh[4:end] if end > 0 else msh[4:]
        if (len(characters) not in (4, 5) or not all(_SPECIAL.fullmatch(c) for c in characters)
                or len(set(characters + field)) != len(characters) + 1):
            raise MappingError(f"MSH-2 {characters!r} is not 4 (or 5) distinct encoding characters", "102", "MSH-2")
        return cls(field, *characters)

    @property
    def encoding_characters(self) -> str:
        """MSH-2."""
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation


def codec(charset: str) -> str:
    """The Python codec of an MSH-18 value (table 0211); the default charset when empty."""
    name = charset.strip() or TABLES["default_charset"]
    if name not in TABLES["charsets"]:
        raise MappingError(f"MSH-18 charset {name!r} is not supported (supported: {', '.join(TABLES['charsets'])})",
                           "103", "MSH-18")
    return TABLES["charsets"][name]


def declared_charset(text: str) -> str:
    """MSH-18 (its first repetition and component) as written in the first segment of `text`, or ''."""
    first = _LINE.split(text.lstrip(), maxsplit=1)[0]
    try:
        separators = Separators.of(first)
    except MappingError:
        return ""
    fields = first.split(separators.field)
    charset = fields[17] if len(fields) > 17 else ""
    return charset.split(separators.repetition)[0].split(separators.component)[0]


def decode(data: bytes) -> str:
    """The text of a message, decoded with the charset its MSH-18 declares."""
    header = re.split(rb"[\r\n]", data.lstrip(), maxsplit=1)[0]
    name = codec(declared_charset(header.decode("latin-1")))
    try:
        return data.decode(name)
    except UnicodeDecodeError as error:
        raise MappingError(f"The message is not valid {name} (MSH-18): byte {error.start} cannot be decoded",
                           "102", "MSH-18") from None


def encode(message: str) -> bytes:
    """A message (an ACK, from_fhir's MDM) as bytes, in the charset its MSH-18 declares (UTF-8 by default)."""
    name = codec(declared_charset(message))
    try:
        return message.encode(name)
    except UnicodeEncodeError:
        raise MappingError(f"The message cannot be written in {name}, the charset of its MSH-18", "102",
                           "MSH-18") from None


def unescape(text: str, separators: Separators, charset: str, where: str) -> str:
    """`text` with its escape sequences replaced (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh..\\ \\.br\\ ...); highlighting and
    character set switches (\\H\\ \\N\\ \\C..\\ \\M..\\) and application sequences (\\Z..\\) are dropped."""
    esc = separators.escape
    if esc not in text:
        return text
    plain = {"F": separators.field, "S": separators.component, "T": separators.subcomponent,
             "R": separators.repetition, "E": esc, ".br": "\n", ".ce": "\n"}

    def replace(match: re.Match) -> str:
        sequence = match[1]
        if sequence in plain:
            return plain[sequence]
        if sequence[:1] == "X":
            if not _HEX.fullmatch(sequence[1:]):
                raise MappingError(f"{where}: {esc}{sequence}{esc} is not a hexadecimal escape", "102", where)
            try:
                return bytes.fromhex(sequence[1:]).decode(charset)
            except UnicodeDecodeError:
                raise MappingError(f"{where}: {esc}{sequence}{esc} is not {charset} text", "102", where) from None
        if sequence[:3] in (".sp", ".sk"):
            count = int(sequence[3:5]) if sequence[3:5].isdigit() else 1
            return ("\n" if sequence[:3] == ".sp" else " ") * count
        return ""

    return re.sub(f"{re.escape(esc)}([^{re.escape(esc)}]*){re.escape(esc)}", replace, text)


def escape(text: str, separators: Separators) -> str:
    """`text` written in a field: separators and line breaks as escape sequences, other controls as \\Xhh\\."""
    esc = separators.escape
    names = {separators.field: "F", separators.component: "S", separators.subcomponent: "T",
             separators.repetition: "R", esc: "E"}

    def replace(match: re.Match) -> str:
        character = match[0]
        if character in names:
            return f"{esc}{names[character]}{esc}"
        if character in ("\r\n", "\r", "\n"):
            return f"{esc}.br{esc}"
        return f"{esc}X{ord(character):02X}{esc}"

    specials = re.escape("".join(names))
    return re.sub(f"\r\n|[{specials}\x00-\x1f\x7f]", replace, text)


def segment_text(fields: list[str], separators: Separators) -> str:
    """A segment written from its fields (already escaped), trailing empty fields dropped, with its CR."""
    while len(fields) > 1 and not fields[-1]:
        fields = fields[:-1]
    return separators.field.join(fields) + "\r"
