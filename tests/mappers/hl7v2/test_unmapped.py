"""Issue 18: every field that has a value the mapping never read is named in a warning (ERR severity W in the
ACK), so that AA means all of the message took effect or was named; structural fields are never named."""
from __future__ import annotations

import pytest

from mappers.errors import MappingError
from mappers.hl7v2 import ack, parse, to_fhir

from .test_mapping import MSH, PID, PID_INS, TXA, message


def warned(data: str) -> list[tuple[str, str | None, str]]:
    warnings: list[MappingError] = []
    to_fhir(data, warnings)
    return [(warning.code, warning.location, warning.message) for warning in warnings]


def test_a_message_whose_every_field_is_mapped_has_no_warning() -> None:
    assert warned(message("ADT^A04", PID)) == []


def test_an_extra_field_is_named_with_its_name() -> None:
    reliability = PID + "|" * 24 + "VALI"  # PID-32
    assert warned(message("ADT^A04", reliability)) == [
        ("207", "PID-32", "PID-32 (identity reliability code) is not used by this server: left out")]


def test_structural_fields_are_never_named() -> None:
    """MSH-17/19/21 (what the message declares of itself), EVN-1 (MSH-9.2 says it), the set ids (OBX-1...)."""
    header = MSH.format(type="ADT^A04") + "|||||FRA|UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM"
    assert warned(f"{header}\rEVN|A04\r{PID}\r") == []


def test_a_segment_the_tables_do_not_name_is_named_by_position_in_message_order() -> None:
    assert [(where, text) for _, where, text in warned(message("ADT^A04", "ZXY|1||abc", PID, "PV1|1|I"))] == [
        ("ZXY-1", "ZXY-1 is not used by this server: left out"),
        ("ZXY-3", "ZXY-3 is not used by this server: left out"),
        ("PV1-2", "PV1-2 (patient class) is not used by this server: left out")]


def test_a_field_read_only_to_be_checked_counts_as_read() -> None:
    """The document's OBX-11 (the step's agreement) and a flag's OBX-5 (DESTDMP=Y, which only allows it)."""
    document = (TXA.replace("|TEXT|", "||"), "OBX|1|ED|11488-4^CR^LN||^TEXT^PLAIN^Base64^Qm9uam91cg==||||||F",
                "OBX|2|CE|DESTDMP^Destinataire DMP^MetaDMPMSS||Y||||||F")
    assert warned(message("MDM^T02", PID, *document)) == []


def test_many_unused_fields_are_listed_up_to_twenty_then_counted() -> None:
    pv1 = "PV1|1" + "".join(f"|v{n}" for n in range(2, 27))  # PV1-2 to PV1-26
    data = message("ADT^A04", PID, pv1)
    found = warned(data)
    assert [where for _, where, _ in found] == [f"PV1-{n}" for n in range(2, 22)] + [None]
    assert found[-1][2] == "and 5 more fields are not used by this server (from PV1-22 on): left out"
    warnings: list[MappingError] = []
    to_fhir(data, warnings)
    answer = parse(ack(data, None, warnings=warnings))
    assert answer.first("MSA").get(1) == "AA"
    assert [(err.get(2, 1), err.get(2, 3), err.get(4)) for err in answer.all("ERR")] == [
        *(("PV1", str(n), "W") for n in range(2, 22)), ("", "", "W")]


def test_a_field_read_and_found_invalid_is_an_error_not_a_warning() -> None:
    pid = PID_INS.replace("|20000101|", "|2000-01-01|")  # an INS identity's birth date must be valid
    with pytest.raises(MappingError) as caught:
        to_fhir(message("ADT^A04", pid))
    assert (caught.value.code, caught.value.location) == ("102", "PID-7")
