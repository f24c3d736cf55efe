"""``bumper.web.framing``: where a request ends, fed at once or a byte at a time, and what it
refuses instead of guessing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bumper.web.framing import MORE, Complete, Refused, RequestFramer

HEAD = b"POST /hooks/gh HTTP/1.1\r\nHost: bumper\r\n"


def _framer(max_body_bytes: int = 1000) -> RequestFramer:
    return RequestFramer(max_header_bytes=512, max_body_bytes=max_body_bytes)


def _feed_bytewise(data: bytes, framer: RequestFramer | None = None) -> tuple[int, object]:
    """Feed ``data`` one byte more each time: (bytes fed when it answered, the answer)."""
    framer = framer or _framer()
    for size in range(1, len(data) + 1):
        outcome = framer.feed(data[:size])
        if outcome is not MORE:
            return size, outcome
    return len(data), MORE


REQUESTS = {
    "no-body": b"GET /healthz HTTP/1.1\r\nHost: bumper\r\n\r\n",
    "bare-lf": b"GET /healthz HTTP/1.1\nHost: bumper\n\n",
    "length": HEAD + b'Content-Length: 7\r\n\r\n{"a":1}',
    "zero-length": HEAD + b"Content-Length: 0\r\n\r\n",
    "same-length-twice": HEAD + b"Content-Length: 2, 2\r\n\r\n{}",
    "chunked": HEAD + b'Transfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4;ext=1\r\n":1}\r\n0\r\n\r\n',
    "chunked-trailers": HEAD
    + b"transfer-encoding: Chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Digest: abc\r\n\r\n",
}


@pytest.mark.parametrize("name", REQUESTS)
def test_a_request_ends_at_its_last_byte_whether_fed_whole_or_bytewise(name: str) -> None:
    request = REQUESTS[name]
    assert _framer().feed(request) == Complete(len(request))
    assert _feed_bytewise(request) == (len(request), Complete(len(request)))
    # Pipelined: the next request's bytes are not part of this one.
    assert _framer().feed(request + REQUESTS["no-body"]) == Complete(len(request))


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=12), st.data())
def test_a_chunked_body_split_anywhere_ends_where_it_ends(
    chunks: list[bytes], data: st.DataObject
) -> None:
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body
    cuts = sorted(data.draw(st.lists(st.integers(1, len(request)), max_size=6)))
    framer = _framer()
    for cut in cuts:
        if cut < len(request):
            assert framer.feed(request[:cut]) is MORE
    assert framer.feed(request) == Complete(len(request))


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (
            HEAD + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "malformed-request",
        ),
        (HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n", 400, "malformed-request"),
        (HEAD + b"Content-Length: -2\r\n\r\n", 400, "malformed-request"),
        (HEAD + b"Content-Length: 0x10\r\n\r\n", 400, "malformed-request"),
        (HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 400, "malformed-request"),
        (HEAD + b"Transfer-Encoding: chunked, chunked\r\n\r\n", 400, "malformed-request"),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "malformed-request"),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX", 400, "malformed-request"),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 5000, 400, "malformed-request"),
        (HEAD + b"Content-Length: 1001\r\n\r\n", 413, "body-too-large"),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n3e9\r\n", 413, "body-too-large"),
        (HEAD + b"X-Long: " + b"a" * 600, 431, "headers-too-large"),
        (HEAD + b"X-Long: " + b"a" * 600 + b"\r\n\r\n", 431, "headers-too-large"),
    ],
)
def test_ambiguous_or_oversized_framing_is_refused(
    request_bytes: bytes, status: int, reason: str
) -> None:
    outcome = _framer().feed(request_bytes)
    assert isinstance(outcome, Refused)
    assert (outcome.status, outcome.reason) == (status, reason)
    # Fed a byte at a time, the same refusal (no later byte can make it acceptable).
    assert _feed_bytewise(request_bytes)[1] == outcome


def test_the_framer_tells_when_the_headers_are_in_and_whether_100_continue_is_expected() -> None:
    framer = _framer()
    assert framer.feed(HEAD + b"Expect: 100-continue\r\nContent-Length: 5") is MORE
    assert not framer.headers_done
    assert framer.feed(HEAD + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n") is MORE
    assert framer.headers_done and framer.expects_continue and framer.has_body
    plain = _framer()
    assert plain.feed(HEAD + b"Content-Length: 5\r\n\r\n") is MORE
    assert not plain.expects_continue
