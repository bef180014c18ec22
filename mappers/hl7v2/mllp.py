"""MLLP (Minimal Lower Layer Protocol) framing: <VT> message <FS><CR>."""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from ..errors import MappingError
from .encoding import encode

START = b"\x0b"
END = b"\x1c\r"
_CHUNK = 65536


def frame(message: str | bytes) -> bytes:
    """The MLLP block of a message; a str is encoded in the charset its MSH-18 declares (`encode`)."""
    if isinstance(message, str):
        message = encode(message)
    if START in message or END[:1] in message:
        raise MappingError("A message cannot hold the MLLP block characters (0x0B, 0x1C)", "102")
    return START + message + END


def read_frames(stream: BinaryIO, max_size: int = 64 * 2**20) -> Iterator[bytes]:
    """The messages framed in a byte stream (a file, `socket.makefile("rb")`), as they arrive. Whitespace
    between blocks is skipped; other bytes outside a block, a block over `max_size` bytes or a stream ending
    inside a block raise MappingError."""
    read = getattr(stream, "read1", stream.read)
    buffer = bytearray()
    scanned = 0  # bytes of the current block already searched for its end
    while True:
        chunk = read(_CHUNK)
        buffer += chunk
        while True:
            del buffer[:len(buffer) - len(buffer.lstrip(b" \t\r\n"))]
            if not buffer:
                break
            if buffer[:1] != START:
                raise MappingError(f"MLLP: {bytes(buffer[:16])!r} outside a block (0x0B ... 0x1C 0x0D)", "100")
            end = buffer.find(END, max(1, scanned - 1))
            if end < 0:
                scanned = len(buffer)
                break
            yield bytes(buffer[1:end])
            del buffer[:end + len(END)]
            scanned = 0
        if len(buffer) > max_size + len(START):
            raise MappingError(f"MLLP: a block exceeds {max_size} bytes", "100")
        if not chunk:
            if buffer:
                raise MappingError("MLLP: the stream ends inside a block (no 0x1C 0x0D)", "100")
            return
