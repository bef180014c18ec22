"""MLLP framing: <VT> message <FS><CR>, read from a byte stream as the blocks arrive."""
from __future__ import annotations

import io

import pytest

from mappers.errors import MappingError
from mappers.hl7v2 import encode, frame, read_frames, to_fhir

from .support import fixture


class Trickle(io.RawIOBase):
    """A stream handing out a few bytes at a time, as a socket may."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, size

    def readable(self) -> bool:
        return True

    def read1(self, _: int = -1) -> bytes:
        chunk, self.data = self.data[:self.size], self.data[self.size:]
        return chunk


def test_frame() -> None:
    message = fixture("oru_r01_numeric.hl7")
    assert frame(message) == b"\x0b" + message + b"\x1c\r"
    assert frame(message.decode()) == frame(message)  # UTF-8, as MSH-18 says
    latin = fixture("mdm_t02_latin1.hl7")
    assert frame(latin.decode("iso8859-1")) == b"\x0b" + latin + b"\x1c\r"  # ISO 8859-1, as MSH-18 says
    assert encode(latin.decode("iso8859-1")) == latin


def test_frame_refuses_what_cannot_be_framed() -> None:
    with pytest.raises(MappingError):
        frame(b"MSH|^~\\&\x1c")
    with pytest.raises(MappingError) as caught:
        frame("MSH|^~\\&|||||||ADT^A01|1|P|2.5||||||ASCII\rPID|1||Zoé")
    assert caught.value.location == "MSH-18"


@pytest.mark.parametrize("size", [1, 7, 65536])
def test_read_frames(size: int) -> None:
    messages = [fixture(name) for name in ("oru_r01_numeric.hl7", "oru_r01_pdf.hl7", "mdm_t02_latin1.hl7")]
    stream = b"".join(frame(message) + b"\r\n" for message in messages)
    assert list(read_frames(Trickle(stream, size))) == messages
    assert [to_fhir(block)["entry"][0]["fullUrl"] for block in read_frames(io.BytesIO(stream))] == [
        to_fhir(message)["entry"][0]["fullUrl"] for message in messages]


def test_read_frames_yields_blocks_as_they_arrive() -> None:
    blocks = read_frames(Trickle(frame(b"MSH|first") + b"\x0bMSH|second, cut", 5))
    assert next(blocks) == b"MSH|first"
    with pytest.raises(MappingError, match="ends inside a block"):
        next(blocks)


@pytest.mark.parametrize("stream, problem", [
    (b"MSH|^~\\&|no block", "outside a block"),
    (frame(b"MSH|one") + b"junk" + frame(b"MSH|two"), "outside a block"),
    (b"\x0bMSH|^~\\&|no end\x1c", "ends inside a block"),
    (b"\x0b" + b"x" * 300, "exceeds 100 bytes"),
])
def test_read_frames_errors(stream: bytes, problem: str) -> None:
    with pytest.raises(MappingError, match=problem):
        list(read_frames(io.BytesIO(stream), max_size=100))
