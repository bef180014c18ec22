"""What the XDS mapper tests share: the fixture requests and a way to read the XDS codes of a failure."""
from __future__ import annotations

from pathlib import Path

import pytest

from mappers.errors import MappingError
from mappers.xds import MappingErrors, parse_provide_and_register

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECTED = Path(__file__).resolve().parent / "expected"
SOAP = "application/soap+xml; charset=UTF-8"
NAMES = ["plain_one_document.xml", "mtom_two_documents.mime", "french_ins_jdv.xml"]


def request(name: str) -> tuple[bytes, str]:
    """(body, Content-Type) of a fixture request; a `.mime` file starts with its Content-Type header."""
    data = (FIXTURES / name).read_bytes()
    if name.endswith(".mime"):
        head, _, body = data.partition(b"\r\n\r\n")
        return body, head.decode("ascii").split(":", 1)[1].strip()
    return data, SOAP


def codes(error: MappingError) -> list[str]:
    """The XDS error code of each problem a failure reports."""
    return [e.code for e in error.errors] if isinstance(error, MappingErrors) else [error.code]


def refused(body: bytes, content_type: str = SOAP) -> MappingError:
    """The MappingError parsing `body` raises."""
    with pytest.raises(MappingError) as caught:
        parse_provide_and_register(body, content_type)
    return caught.value
