"""Reading messages: separators, escape sequences, charsets, batches; malformed input is a quick MappingError."""
from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest

from mappers.errors import MappingError
from mappers.hl7v2 import batch_messages, parse, to_fhir
from mappers.hl7v2.encoding import Separators, escape, unescape

from .support import SHARED_BAD, fixture, within

HEADER = r"MSH|^~\&|APP|FAC|DMP|ANS|20240101120000+0100||ADT^A04|C1|P|2.5"
PID = "PID|1||42^^^H&1.2.250.1.999.9&ISO^PI||NOM^PRENOM||20000101|M"


@pytest.mark.parametrize("text, plain", [
    (r"a\F\b\S\c\T\d\R\e\E\f", "a|b^c&d~e\\f"),
    (r"line 1\.br\line 2", "line 1\nline 2"),
    (r"\H\bold\N\ normal", "bold normal"),
    ("\\X41\\\\X4243\\", "ABC"),
    ("caf\\XC3A9\\", "café"),
    (r"no escape", "no escape"),
    (r"unterminated \F", "unterminated \\F"),
])
def test_unescape(text: str, plain: str) -> None:
    assert unescape(text, Separators(), "utf-8", "OBX-5") == plain


@pytest.mark.parametrize("sequence", ["\\X4\\", "\\XZZ\\", "\\XFF\\"])
def test_bad_hexadecimal_escape_is_a_data_type_error(sequence: str) -> None:
    with pytest.raises(MappingError) as caught:
        unescape(f"a{sequence}b", Separators(), "utf-8", "OBX-5")
    assert (caught.value.code, caught.value.location) == ("102", "OBX-5")


def test_escape_is_undone_by_unescape() -> None:
    text = "a|b^c&d~e\\f\r\ng\x01"
    written = escape(text, Separators())
    assert not set("|^&~\r\n\x01") & set(written)
    assert unescape(written, Separators(), "utf-8", "x") == text.replace("\r\n", "\n")


def test_values_are_unescaped_repetitions_components_subcomponents() -> None:
    pid = parse(fixture("adt_a04_escapes.hl7")).first("PID")
    assert len(pid.repetitions(3)) == 2 and len(pid.repetitions(5)) == 2 and len(pid.repetitions(11)) == 2
    assert pid.get(3) == "A&B-778" and pid.get(3, 4, 2) == "1.2.250.1.999.4.2"
    assert pid.get(5) == "O'BRIEN^SMITH" and pid.get(5, 2) == "ANNE|MARIE"
    assert pid.repetitions(11)[0].get(1) == "10 rue du Port\nAppartement 3"
    assert pid.repetitions(11)[1].get(1) == "Boîte postale 12"


def test_encoding_characters_come_from_msh_2() -> None:
    message = parse(fixture("adt_a08_separators.hl7"))
    assert message.separators == Separators("!", "@", "*", "\\", "$", "#")
    pid = message.first("PID")
    assert pid.get(3) == "A$B-778" and pid.get(3, 4, 2) == "1.2.250.1.999.4.2"
    assert pid.get(11) == "12 avenue Foch!bis" and pid.get(11, 3) == "Nantes"


@pytest.mark.parametrize("newline", [b"\r", b"\n", b"\r\n"])
def test_segment_separators(newline: bytes) -> None:
    data = fixture("oru_r01_pdf.hl7").replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", newline)
    message = parse(data)
    assert [segment.name for segment in message.segments] == ["MSH", "PID", "OBR", "OBX"]
    pid = message.first("PID")
    assert (pid.get(5), pid.get(5, 2), pid.get(7), message.first("OBX").get(11)) == ("DUPONT", "LOUIS", "19520101", "F")
    patient = to_fhir(data)["entry"][0]["resource"]
    assert patient["name"][0]["family"] == "DUPONT"


def test_iso_8859_1_from_msh_18() -> None:
    data = fixture("mdm_t02_latin1.hl7")
    assert "GARÇON".encode("iso8859-1") in data
    patient = to_fhir(data)["entry"][0]["resource"]
    assert patient["name"][0] == {"use": "official", "family": "GARÇON", "given": ["FRANÇOISE"]}
    assert to_fhir(data.decode("iso8859-1")) == to_fhir(data)


def test_utf_8_by_default_and_when_declared() -> None:
    assert to_fhir(fixture("oru_r01_pdf.hl7"))  # no MSH-18
    patient = to_fhir(fixture("mdm_t02_cda_ins.hl7"))["entry"][0]["resource"]  # MSH-18 UNICODE UTF-8
    assert patient["name"][0]["family"] == "LEFÈVRE"


@pytest.mark.parametrize("data, code, location", [
    ((HEADER + "||||||KOI8-R\r" + PID).encode(), "103", "MSH-18"),
    ((HEADER + "||||||ASCII\r" + PID.replace("NOM", "NÖM")).encode("utf-8"), "102", "MSH-18"),
    ((HEADER + "\r" + PID.replace("NOM", "NÖM")).encode("iso8859-1"), "102", "MSH-18"),
])
def test_charset_errors(data: bytes, code: str, location: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse(data)
    assert (caught.value.code, caught.value.location) == (code, location)


@pytest.mark.parametrize("data, code, location", [
    (b"", "100", None),
    (b"PID|1||42", "100", None),
    (b"MSH", "102", "MSH-1"),
    (b"MSHA^~\\&A", "102", "MSH-1"),
    (b"MSH|^~|", "102", "MSH-2"),
    (b"MSH|^^\\&|", "102", "MSH-2"),
    (HEADER.replace("|C1|", "||").encode(), "101", "MSH-10.1"),
    (HEADER.replace("ADT^A04", "ADT").encode(), "101", "MSH-9.2"),
    (HEADER.replace("|2.5", "|").encode(), "101", "MSH-12.1"),
    (HEADER.replace("|2.5", "|3.0").encode(), "203", "MSH-12"),
    ((HEADER + "\rpid|1").encode(), "100", None),
    ((HEADER + "\r" + HEADER).encode(), "100", None),
    ((HEADER + "\rBTS|1").encode(), "100", None),
])
def test_envelope_errors(data: bytes, code: str, location: str | None) -> None:
    with pytest.raises(MappingError) as caught:
        parse(data)
    assert (caught.value.code, caught.value.location) == (code, location)


def test_batches_and_files_are_split_into_messages() -> None:
    data = fixture("batch_adt.hl7")
    messages = batch_messages(data)
    assert [parse(message).header.get(10) for message in messages] == ["ADT-B-1", "ADT-B-2"]
    assert all(isinstance(message, bytes) for message in messages)
    assert batch_messages(data.decode()) == [message.decode() for message in messages]
    assert batch_messages(fixture("oru_r01_pdf.hl7")) == [fixture("oru_r01_pdf.hl7").replace(b"\n", b"\r")]


@pytest.mark.parametrize("data", [
    b"BHS|^~\\&\rEVN|A04\rBTS|1",  # a segment before any MSH
    b"BHS|^~\\&\rMSH|^~\\&\rBHS|^~\\&\rBTS|1",  # a batch inside a batch
    b"FHS|^~\\&\rMSH|^~\\&\rFHS|^~\\&",  # a second file header
    b"FTS|1",  # no message at all
])
def test_bad_batches(data: bytes) -> None:
    with pytest.raises(MappingError) as caught:
        batch_messages(data)
    assert caught.value.code == "100"


def _maps_or_refuses(data: bytes) -> None:
    """to_fhir on `data` returns a Bundle or raises MappingError, nothing else."""
    with contextlib.suppress(MappingError):
        to_fhir(data)


@pytest.mark.parametrize("path", SHARED_BAD, ids=lambda path: path.name)
def test_fuzzer_inputs_are_refused_quickly(path: Path) -> None:
    result = within(2, lambda: to_fhir(path.read_bytes()))
    assert isinstance(result, MappingError), result


def test_truncated_messages_are_refused_or_mapped_quickly() -> None:
    data = fixture("oru_r01_numeric.hl7")
    within(10, lambda: [_maps_or_refuses(data[:end]) for end in range(0, len(data), 5)])


def test_binary_garbage_is_refused_quickly() -> None:
    generator = random.Random(2024)
    inputs = [bytes(generator.randrange(256) for _ in range(generator.randrange(1, 400))) for _ in range(150)]
    inputs += [b"MSH|^~\\&|" + garbage for garbage in inputs[:75]]
    inputs += [fixture("adt_a04_escapes.hl7")[:60] + garbage for garbage in inputs[75:150]]
    results = within(10, lambda: [within(2, lambda data=data: to_fhir(data)) for data in inputs])
    assert all(isinstance(result, (dict, MappingError)) for result in results), \
        [result for result in results if not isinstance(result, (dict, MappingError))]
