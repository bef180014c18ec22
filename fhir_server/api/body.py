"""Request bodies capped at FHIR_MAX_BODY_BYTES whether or not they say their length.

Werkzeug refuses a Content-Length over the limit, but reads a body sent without one (`Transfer-Encoding:
chunked`) up to the limit and stops there silently: what followed was dropped, and a truncated Binary was
stored as if it were whole. Here such a body is read until its end and refused (413) as soon as it passes
the limit, holding at most the limit (plus one read) meanwhile. Every reader of the body (`get_data`, form
parsing) goes through `CappedRequest.stream`.
"""
from __future__ import annotations

import io
from typing import IO

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property


def too_large(limit: int) -> RequestEntityTooLarge:
    """The 413 of a body past `limit`, naming it."""
    return RequestEntityTooLarge(f"The request body is larger than {limit} bytes, the most this server accepts "
                                 "(FHIR_MAX_BODY_BYTES)")


class CappedStream(io.RawIOBase):
    """A body of unknown length read from `source` to its end, RequestEntityTooLarge once past `limit`."""

    def __init__(self, source: IO[bytes], limit: int) -> None:
        super().__init__()
        self._source, self._limit, self._left = source, limit, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:
        data = self._source.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise too_large(self._limit)
        self._left -= len(data)
        buffer[:len(data)] = data
        return len(data)


class CappedRequest(Request):
    """Flask's request, whose body stream never yields more than the limit: 413 beyond it."""

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if limit is not None and self.content_length is not None and self.content_length > limit:
            raise too_large(limit)
        if limit is not None and self.content_length is None and "wsgi.input_terminated" in self.environ:
            return CappedStream(self.environ["wsgi.input"], limit)
        return super().stream
