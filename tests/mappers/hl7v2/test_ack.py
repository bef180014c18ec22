"""ack: AA, AE or AR, with an ERR segment (location, table 0357 code, severity, message) for an error."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mappers.errors import MappingError
from mappers.hl7v2 import ack, frame, parse, to_fhir
from mappers.hl7v2.ack import ApplicationError

from .support import SHARED_BAD, fixture

NOW = datetime(2024, 7, 1, 12, 30, 5, tzinfo=timezone(timedelta(hours=2)))


def answer(data: bytes | str) -> tuple[str, MappingError | None]:
    """The ACK of a message after to_fhir, as an ingest endpoint builds it."""
    try:
        to_fhir(data)
        error = None
    except MappingError as caught:
        error = caught
    return ack(data, error, control_id="ACK-1", now=NOW), error


def test_accepted() -> None:
    text, error = answer(fixture("oru_r01_numeric.hl7"))
    assert error is None
    assert text == ("MSH|^~\\&|DMP-FHIR|ANS|LABO-BIO|LABO^1.2.250.1.999.1.1^ISO|20240701123005+0200||ACK^R01^ACK|"
                    "ACK-1|P|2.5||||||UNICODE UTF-8\rMSA|AA|ORU-0001\r")
    msh = parse(text).header
    assert (msh.get(3), msh.get(5), msh.get(9, 1), msh.get(9, 2), msh.get(12)) == (
        "DMP-FHIR", "LABO-BIO", "ACK", "R01", "2.5")


def test_warnings_are_err_segments_of_severity_w() -> None:
    data = fixture("adt_a04_escapes.hl7").replace(b"|19851231|F|", b"|19851231|Q|")  # no INS
    warnings: list[MappingError] = []
    to_fhir(data, warnings)
    text = ack(data, None, warnings=warnings, control_id="ACK-1", now=NOW)
    parsed = parse(text)
    assert parsed.first("MSA").get(1) == "AA"
    errs = parsed.all("ERR")
    assert [(err.get(2, 1), err.get(2, 3), err.get(3), err.get(4)) for err in errs] == [
        ("PID", "8", "103", "W"), ("EVN", "2", "207", "W"), ("PV1", "2", "207", "W")]  # the fields not used
    assert "'Q'" in errs[0].get(8) and "left out" in errs[0].get(8)
    assert errs[1].get(8) == "EVN-2 (recorded date/time) is not used by this server: left out"
    older = fixture("mdm_t02_latin1.hl7")
    warning = MappingError("PID-7: '2024' is not real: the birth date is left out", "102", "PID-7")
    err = parse(ack(older, None, warnings=[warning], now=NOW)).first("ERR")
    assert [err.get(1, n) for n in range(1, 5)] == ["PID", "1", "7", "102"] and err.get(4) == "W"


def test_new_control_ids() -> None:
    first, second = (parse(ack(fixture("oru_r01_pdf.hl7"), None)).header.get(10) for _ in range(2))
    assert first != second and len(first) == 20


def test_application_error() -> None:
    data = fixture("oru_r01_numeric.hl7").replace(b"|19790315|F|", b"|19790315|Q|")  # a patient with an INS
    text, error = answer(data)
    assert error is not None and error.code == "103"
    parsed = parse(text)
    assert parsed.first("MSA").get(1) == "AE" and parsed.first("MSA").get(2) == "ORU-0001"
    err = parsed.first("ERR")
    assert [err.get(2, n) for n in range(1, 5)] == ["PID", "1", "8", "1"]
    assert [err.get(3, n) for n in range(1, 4)] == ["103", "Table value not found", "HL70357"]
    assert err.get(4) == "E" and err.get(8) == error.message and "'Q'" in err.get(8)
    assert err.get(1) == ""  # 2.5: no ERR-1


@pytest.mark.parametrize("data, code", [
    (fixture("oru_r01_pdf.hl7").replace(b"ORU^R01", b"ORM^O01"), "200"),
    (fixture("oru_r01_pdf.hl7").replace(b"ORU^R01", b"ORU^R30"), "201"),
    (fixture("oru_r01_pdf.hl7").replace(b"|2.5.1", b"|9.9"), "203"),
    (fixture("oru_r01_pdf.hl7").replace(b"|ORU-PDF-42|", b"||"), "101"),  # a header error
])
def test_rejected(data: bytes, code: str) -> None:
    text, error = answer(data)
    assert error is not None and error.code == code
    assert text.split("\r")[0].endswith("|9.9" if code == "203" else "|2.5.1")  # MSH-12 as sent
    parsed = parse(text.replace("|9.9", "|2.5"))
    assert parsed.first("MSA").get(1) == "AR" and parsed.first("ERR").get(3) == code


def test_unreadable_message_gets_a_reject_from_defaults() -> None:
    for data in [b"\x00\x01garbage", b"", b"PID|1"]:
        text, error = answer(data)
        assert error is not None
        assert text == ("MSH|^~\\&|||||20240701123005+0200||ACK|ACK-1|P|2.5\rMSA|AR\r"
                        f"ERR|||100^Segment sequence error^HL70357|E||||{error.message}\r")
    assert "MSA|AR" in ack(b"\xff\xfe", None)


def test_header_with_bad_encoding_characters_is_read_with_defaults() -> None:
    data = b"MSH|0000|APP|FAC|||||ADT^A01|C9|P|2.5\rPID|1"
    text, error = answer(data)
    parsed = parse(text)
    assert error is not None and error.location == "MSH-2"
    assert (parsed.first("MSA").get(1), parsed.first("MSA").get(2), parsed.header.get(5)) == ("AR", "C9", "APP")


def test_a_header_that_is_not_msh_with_a_bar_is_not_read_as_one() -> None:
    """MSH followed by an unusable field separator: the header is unreadable, nothing of it is echoed."""
    text, error = answer(b"MSH#bad|APP|FAC|||||ADT^A01|C9|P|2.5\rPID|1")
    assert error is not None and error.location == "MSH-2"
    assert text.startswith("MSH|^~\\&|||||20240701123005+0200||ACK|ACK-1|P|2.5\rMSA|AR\r"), text


def test_an_application_error_is_understood_but_not_acted_on() -> None:
    """HL7 table 0357 code 207 in ERR-3, the ANS application error code in ERR-5, the message in ERR-8: AE."""
    refusal = ApplicationError("Only the author may delete this document", "901", "TXA-12")
    parsed = parse(ack(fixture("oru_r01_pdf.hl7"), refusal, control_id="ACK-1", now=NOW))
    assert parsed.first("MSA").get(1) == "AE"
    err = parsed.first("ERR")
    assert (err.get(3, 1), err.get(5, 1), err.get(8)) == ("207", "901", "Only the author may delete this document")
    assert [err.get(2, n) for n in range(1, 4)] == ["TXA", "1", "12"]


def test_older_versions_also_get_msa_3_and_err_1() -> None:
    data = fixture("mdm_t02_latin1.hl7").replace(b"|IP|R", b"|IP|Z")
    text, error = answer(data)
    assert error is not None and error.location == "TXA-18"
    parsed = parse(text)
    assert parsed.header.get(12) == "2.4" and parsed.first("MSA").get(3) == error.message
    assert [parsed.first("ERR").get(1, n) for n in range(1, 5)] == ["TXA", "1", "18", "103"]
    assert parsed.first("ERR").get(1, 4, 3) == "HL70357"


def test_separators_and_charset_of_the_message_are_kept() -> None:
    text, _ = answer(fixture("adt_a08_separators.hl7"))
    assert text.startswith("MSH!@*\\$#!DMP-FHIR!ANS!GAM!CLINIQUE@1.2.250.1.999.4.1@ISO!")
    error = MappingError("Prénom | inconnu^", "101", "PID-5(2).2")
    latin = ack(fixture("mdm_t02_latin1.hl7"), error, now=NOW)
    assert "|8859/1\r" in latin
    assert "|PID^1^5^2^2|101^Required field missing^HL70357|E||||Prénom \\F\\ inconnu\\S\\\r" in latin
    assert "Prénom".encode("iso8859-1") in frame(latin)


def test_unknown_error_codes_are_internal_errors() -> None:
    text = ack(fixture("oru_r01_pdf.hl7"), MappingError("storage failed", "XDSRepositoryError"), now=NOW)
    parsed = parse(text)
    assert parsed.first("MSA").get(1) == "AE" and parsed.first("ERR").get(3) == "207"
    assert parsed.first("ERR").get(2) == ""


@pytest.mark.parametrize("path", SHARED_BAD, ids=lambda path: path.name)
def test_fuzzer_inputs_get_an_ack(path) -> None:
    text, error = answer(path.read_bytes())
    assert error is not None and text.split("\r")[1].startswith(("MSA|AR", "MSA|AE"))
