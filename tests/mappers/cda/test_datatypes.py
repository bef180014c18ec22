"""CDA data types as FHIR ones: timestamps, identifiers, names, addresses and telecoms."""
from __future__ import annotations

import pytest
from lxml import etree

from mappers.cda.datatypes import address, human_names, identifier, telecom
from mappers.cda.times import fhir_date, fhir_datetime, fhir_instant
from mappers.errors import MappingError


def _element(xml: str) -> etree._Element:
    return etree.fromstring(xml.replace("<x", '<x xmlns="urn:hl7-org:v3"', 1))


@pytest.mark.parametrize(("ts", "date", "datetime", "instant"), [
    ("1985", "1985", "1985", None),
    ("198504", "1985-04", "1985-04", None),
    ("19850407-0500", "1985-04-07", "1985-04-07", None),
    ("200503291715", "2005-03-29", "2005-03-29", None),  # a time without a zone keeps its date only
    ("200503291715-0500", "2005-03-29", "2005-03-29T17:15:00-05:00", "2005-03-29T17:15:00-05:00"),
    ("20050329171504.25+0100", "2005-03-29", "2005-03-29T17:15:04.25+01:00", "2005-03-29T17:15:04.25+01:00"),
])
def test_timestamps(ts: str, date: str, datetime: str, instant: str | None) -> None:
    assert (fhir_date(ts, "/t"), fhir_datetime(ts, "/t"), fhir_instant(ts, "/t")) == (date, datetime, instant)


@pytest.mark.parametrize("ts", ["2005-03-29", "20050230", "200503291715+2500", "2005032917156", ""])
def test_bad_timestamps(ts: str) -> None:
    with pytest.raises(MappingError) as caught:
        fhir_datetime(ts, "/ClinicalDocument/effectiveTime/@value")
    assert (caught.value.code, caught.value.location) == ("value", "/ClinicalDocument/effectiveTime/@value")


@pytest.mark.parametrize(("xml", "expected"), [
    ('<x root="1.2.3" extension="A1"/>', {"system": "urn:oid:1.2.3", "value": "A1"}),
    ('<x root="1.2.3"/>', {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3"}),
    ('<x root="AB2C9E1A-5B7D-4C3E-9A8B-6D4E2F1A0B3C"/>',
     {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:ab2c9e1a-5b7d-4c3e-9a8b-6d4e2f1a0b3c"}),
    ('<x nullFlavor="UNK" root="1.2.3" extension="A1"/>', None),
])
def test_identifiers(xml: str, expected: dict | None) -> None:
    assert identifier(_element(xml), "/id") == expected


def test_a_legal_name_keeps_its_spouse_family_name() -> None:
    pn = _element('<x use="L"><given>Eve</given><family qualifier="SP">Betterhalf</family></x>')
    assert human_names(pn) == [{"use": "official", "family": "Betterhalf", "given": ["Eve"]}]


def test_a_text_only_name_and_address() -> None:
    assert human_names(_element("<x> Jean  Dupont </x>")) == [{"text": "Jean Dupont"}]
    assert address(_element('<x use="WP">3 rue X, Paris</x>')) == {"use": "work", "text": "3 rue X, Paris"}


@pytest.mark.parametrize(("xml", "expected"), [
    ('<x value="tel: 01 23 45 67 89" use="WP"/>', {"system": "phone", "value": "01 23 45 67 89", "use": "work"}),
    ('<x value="fax:0123456789"/>', {"system": "fax", "value": "0123456789"}),
    ('<x value="https://example.org/contact"/>', {"system": "url", "value": "https://example.org/contact"}),
    ('<x value="0123456789" use="MC"/>', {"system": "other", "value": "0123456789", "use": "mobile"}),
    ('<x nullFlavor="NI"/>', None),
])
def test_telecoms(xml: str, expected: dict | None) -> None:
    assert telecom(_element(xml)) == expected
