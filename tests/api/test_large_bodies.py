"""Large request bodies over HTTP against the real server: Binaries beyond FerretDB's 48 MB wire messages are
stored and read back whole, and FHIR_MAX_BODY_BYTES holds for bodies sent chunked (without Content-Length):
refused with 413 once past it, never truncated. The bodies are streamed from a repeated random block, so the
test holds a few MB whatever it sends."""
from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest
import requests
from werkzeug.exceptions import RequestEntityTooLarge

from fhir_server.api.body import CappedStream
from fhir_server.auth.backend_client import register
from tests.conftest import Server, own_server

MB = 1024 * 1024
BLOCK = os.urandom(3 * MB)  # a multiple of 3 bytes: its base64 encodings can follow one another
SMALL_LIMIT = 2 * MB


class Repeated(io.RawIOBase):
    """`head`, then `block` `times` over, then `tail`, read on demand; sized, so requests sends Content-Length."""

    def __init__(self, block: bytes, times: int, head: bytes = b"", tail: bytes = b"") -> None:
        super().__init__()
        self.parts = [head, *[block] * times, tail]
        self.size = sum(map(len, self.parts))
        self.pending = b""

    def __len__(self) -> int:
        return self.size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending and self.parts:
            self.pending = self.parts.pop(0)
        count = min(len(buffer), len(self.pending))
        buffer[:count], self.pending = self.pending[:count], self.pending[count:]
        return count


def sha1_of(block: bytes, times: int) -> str:
    digest = hashlib.sha1()
    for _ in range(times):
        digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def large(database, tmp_path_factory):
    """(session, base) of a server on a database of this module's own, dropped afterwards: on FerretDB a
    Binary's chunks are found by a scan of every stored chunk, so 160 MB of them left in the shared database
    would slow every later Binary read of the run."""
    with own_server(database, tmp_path_factory.mktemp("large"), "large") as (_, _, base, http):
        yield http, base


def read_back(http: requests.Session, location: str) -> tuple[int, str]:
    """(size, SHA-1) of a Binary's raw content, streamed."""
    url = location.split("/_history")[0]
    with http.get(url, headers={"Accept": "*/*"}, stream=True) as response:
        assert response.status_code == 200, response.text[:500]
        digest, size = hashlib.sha1(), 0
        for piece in response.iter_content(MB):
            digest.update(piece)
            size += len(piece)
    return size, digest.hexdigest()


def assert_stored_whole(large, body: Repeated, content_type: str, times: int) -> None:
    """`body` (BLOCK `times` over, as such or encoded) is stored, and read back raw it is BLOCK `times` over."""
    http, base = large
    created = http.post(f"{base}/Binary", data=body, headers={"Content-Type": content_type,
                                                              "Prefer": "return=minimal"})
    assert created.status_code == 201, created.text
    assert read_back(http, created.headers["Location"]) == (len(BLOCK) * times, sha1_of(BLOCK, times))


def test_a_100_mb_binary_is_stored_and_read_back_whole(large):
    times = 34  # 102 MB: past FerretDB's 48 MB messages, under the 128 MB body limit
    assert_stored_whole(large, Repeated(BLOCK, times), "application/pdf", times)


def test_a_binary_of_50_mb_as_base64_in_fhir_json(large):
    times = 17
    body = Repeated(base64.b64encode(BLOCK), times,
                    b'{"resourceType": "Binary", "contentType": "application/pdf", "data": "', b'"}')
    assert_stored_whole(large, body, "application/fhir+json", times)


def test_a_binary_of_12_mb_in_fhir_xml(large):
    """Past libxml2's default 10 MB cap on one attribute value."""
    times = 4
    body = Repeated(base64.b64encode(BLOCK), times, b'<Binary xmlns="http://hl7.org/fhir"><contentType '
                    b'value="application/pdf"/><data value="', b'"/></Binary>')
    assert_stored_whole(large, body, "application/fhir+xml", times)


@pytest.fixture(scope="module")
def small_limit(database, tmp_path_factory):
    """A server accepting bodies of 2 MB at most (FHIR_MAX_BODY_BYTES)."""
    uri, name = database
    srv = Server(uri, name, tmp_path_factory.mktemp("small-limit") / "server.log",
                 {"FHIR_MAX_BODY_BYTES": str(SMALL_LIMIT)})
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture()
def small_http(db, small_limit):
    """A session with a token of that server (its origin is another: the run's tokens are not valid there)."""
    software = register(db, small_limit.base.removesuffix("/fhir"), "Small-limit vendor", ["system/*.cruds"])
    with requests.Session() as session:
        session.headers.update(software.headers())
        yield session


def chunks(size: int, piece: int = 256 * 1024):
    """The first `size` bytes of BLOCK twice over, as a generator: requests sends it chunked (no Content-Length)."""
    data = memoryview(BLOCK * 2)[:size]
    for start in range(0, size, piece):
        yield bytes(data[start:start + piece])


@pytest.mark.parametrize("path, content_type", [("/Binary", "application/octet-stream"),
                                                ("/Patient", "application/fhir+json"),
                                                ("", "application/fhir+json")])
def test_a_chunked_body_past_the_limit_is_refused(small_http, db, small_limit, path, content_type):
    stored = {t: db[t].count_documents({}) for t in ("Binary", "Patient")}
    refused = small_http.post(f"{small_limit.base}{path}", data=chunks(3 * SMALL_LIMIT),
                        headers={"Content-Type": content_type})
    assert refused.status_code == 413, refused.text
    assert f"larger than {SMALL_LIMIT} bytes" in refused.json()["issue"][0]["diagnostics"]
    assert {t: db[t].count_documents({}) for t in stored} == stored  # nothing, not even the first 2 MB
    sized = small_http.post(f"{small_limit.base}{path}", data=BLOCK[:SMALL_LIMIT + 1], headers={"Content-Type": content_type})
    assert sized.status_code == 413 and f"larger than {SMALL_LIMIT} bytes" in sized.text


def test_a_chunked_body_up_to_the_limit_is_stored_whole(small_http, small_limit):
    created = small_http.post(f"{small_limit.base}/Binary", data=chunks(SMALL_LIMIT),
                        headers={"Content-Type": "application/octet-stream", "Prefer": "return=minimal"})
    assert created.status_code == 201, created.text
    content = BLOCK[:SMALL_LIMIT]
    assert read_back(small_http, created.headers["Location"]) == (len(content), hashlib.sha1(content).hexdigest())


class Counting(io.RawIOBase):
    """An endless source of bytes that counts what was read from it."""

    def __init__(self) -> None:
        super().__init__()
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        buffer[:] = b"x" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


def test_an_endless_body_is_read_no_further_than_the_limit():
    source = Counting()
    with pytest.raises(RequestEntityTooLarge):
        CappedStream(source, SMALL_LIMIT).read()
    assert source.read_bytes == SMALL_LIMIT + 1  # one byte past the limit tells, and nothing more is read
