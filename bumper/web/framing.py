"""Where one HTTP/1.1 request ends in the bytes read so far: the serving front's framing.

``bumper.web.serving`` reads each request while no thread waits for it and hands it to
gunicorn's parser only once it is whole. ``RequestFramer`` finds that end: the header block,
then the body by ``Content-Length`` or by the chunked coding (RFC 9112 sections 6 and 7). It
only frames; gunicorn parses what it is handed and answers its own 400s.

It refuses instead of guessing where the framing is ambiguous: both ``Content-Length`` and
``Transfer-Encoding``, differing lengths, a coding other than ``chunked``, a bad chunk size
or terminator (a request smuggled past a proxy starts with such a disagreement). Bodies over
``max_body_bytes`` are refused as soon as that is known, before they are read. Pure: no I/O,
no clock; the caller owns the buffer and the deadlines. Work per call is proportional to the
bytes added since the last call, so a body trickled in one byte at a time costs linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER_END = re.compile(rb"\n\r?\n")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_DIGITS = re.compile(r"[0-9]{1,18}")
# A chunk-size line is a hex size plus optional extensions; a trailer line a header field.
_MAX_LINE = 4096
_MAX_TRAILERS = 16_384


@dataclass(frozen=True)
class Complete:
    """The request is the first ``end`` bytes of the buffer; anything after belongs to the
    next request on the connection (pipelining)."""

    end: int


@dataclass(frozen=True)
class Refused:
    """The request cannot be framed: answer ``status`` with ``reason`` and close."""

    status: int
    reason: str
    message: str


MORE = None
"""``feed``'s answer while the request is not whole yet."""

Outcome = Complete | Refused | None


def _malformed(message: str) -> Refused:
    return Refused(400, "malformed-request", message)


class RequestFramer:
    """Frames one request; ``feed`` it the connection's whole buffer after every read."""

    def __init__(self, *, max_header_bytes: int, max_body_bytes: int) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.headers_done = False
        self.expects_continue = False
        self.has_body = False
        self._scanned = 0  # where the search for the header end resumes
        self._length: int | None = None  # Content-Length body: the request's end offset
        self._chunked = False
        self._pos = 0  # chunked: offset of the next chunk-size, data or trailer line
        self._chunk_left = -1  # chunked: data bytes (plus CRLF) still due; -1 = at a size line
        self._body = 0  # chunked: decoded body bytes so far
        self._in_trailers = False
        self._trailers_start = 0

    def feed(self, buffer: bytes | bytearray) -> Outcome:
        if not self.headers_done:
            refused = self._find_headers(buffer)
            if refused is not None or not self.headers_done:
                return refused
        if self._length is not None:
            return Complete(self._length) if len(buffer) >= self._length else MORE
        if self._chunked:
            return self._walk_chunks(buffer)
        return Complete(self._pos)

    def _find_headers(self, buffer: bytes | bytearray) -> Refused | None:
        match = _HEADER_END.search(buffer, max(0, self._scanned - 2))
        if match is None:
            self._scanned = len(buffer)
            if len(buffer) > self.max_header_bytes:
                return Refused(
                    431,
                    "headers-too-large",
                    f"the request line and headers exceed {self.max_header_bytes} bytes",
                )
            return None
        if match.end() > self.max_header_bytes:
            return Refused(
                431,
                "headers-too-large",
                f"the request line and headers exceed {self.max_header_bytes} bytes",
            )
        self.headers_done = True
        self._pos = match.end()
        return self._read_framing(bytes(buffer[: match.start()]), match.end())

    def _read_framing(self, block: bytes, body_start: int) -> Refused | None:
        lengths: list[str] = []
        codings: list[str] = []
        for line in block.split(b"\n")[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                continue  # gunicorn refuses a line without a colon itself
            field = name.strip().lower()
            text = value.strip().decode("latin-1")
            if field == b"content-length":
                lengths.extend(part.strip() for part in text.split(","))
            elif field == b"transfer-encoding":
                codings.extend(part.strip().lower() for part in text.split(",") if part.strip())
            elif field == b"expect":
                self.expects_continue = text.lower() == "100-continue"
        if codings and lengths:
            return _malformed("both Content-Length and Transfer-Encoding")
        if codings:
            if codings != ["chunked"]:
                return _malformed("only the chunked transfer coding is accepted")
            self._chunked = self.has_body = True
            return None
        if lengths:
            if len(set(lengths)) != 1 or not _DIGITS.fullmatch(lengths[0]):
                return _malformed("Content-Length is not one decimal length")
            length = int(lengths[0])
            if length > self.max_body_bytes:
                return _too_large(self.max_body_bytes)
            self._length = body_start + length
            self.has_body = length > 0
        return None

    def _walk_chunks(self, buffer: bytes | bytearray) -> Outcome:
        while True:
            if self._chunk_left >= 0:
                end = self._pos + self._chunk_left
                if len(buffer) < end:
                    return MORE
                if buffer[end - 2 : end] != b"\r\n":
                    return _malformed("a chunk does not end with CRLF")
                self._pos, self._chunk_left = end, -1
                continue
            newline = buffer.find(b"\n", self._pos)
            if newline < 0:
                if len(buffer) - self._pos > _MAX_LINE:
                    return _malformed("a chunk-size or trailer line is too long")
                return MORE
            line = bytes(buffer[self._pos : newline]).rstrip(b"\r")
            self._pos = newline + 1
            if self._in_trailers:
                if not line:
                    return Complete(self._pos)
                if self._pos - self._trailers_start > _MAX_TRAILERS:
                    return _malformed("the trailer fields are too long")
                continue
            refused = self._chunk_size(line)
            if refused is not None:
                return refused

    def _chunk_size(self, line: bytes) -> Refused | None:
        size_text = line.split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            return _malformed("a chunk size is not a hexadecimal number")
        size = int(size_text, 16)
        self._body += size
        if self._body > self.max_body_bytes:
            return _too_large(self.max_body_bytes)
        if size == 0:
            self._in_trailers = True
            self._trailers_start = self._pos
        else:
            self._chunk_left = size + 2
        return None


def _too_large(limit: int) -> Refused:
    return Refused(413, "body-too-large", f"the body exceeds {limit} bytes")
