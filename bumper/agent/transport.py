"""Keep-alive HTTP(S) connections to one API server, shared by the applier's threads.

``Pool.send`` sends one request on an idle connection (or a new one) and returns the status
and the whole body; a connection goes back to the pool unless the server said it closes it,
and at most ``size`` idle connections are kept (the applier runs ``workers`` requests at once,
so a pool of that size means no TLS handshake after the first ``workers`` requests).
http.client sets a connection up (TLS, the proxy's CONNECT tunnel); requests and replies on
it are framed here (``_exchange``), for the client's CPU per request at a thousand applies:
- a request goes out in one write (head and body together): on a loaded machine each write to
  loopback may wake the API server (and preempt the client) once more per request, and both
  http.client and urllib3 write the body separately;
- a reply's head is read for the three fields that frame it (``Content-Length``,
  ``Transfer-Encoding``, ``Connection``): http.client hands every reply's head to the
  ``email`` parser, which was a third of the client's CPU per apply (urllib3's per-request
  URL parsing, pool-key and header work was half).
A connection that sat idle and was closed by the server (restart, idle timeout) is noticed
before use (its socket reads as ready: end of file) and replaced.
Proxies: ``proxy`` (from the environment, decided by the caller) tunnels HTTPS with CONNECT,
and takes plain HTTP requests in absolute form.
Must not: retry, decode bodies or know about Kubernetes (``kube.Client`` does).
"""

from __future__ import annotations

import http.client
import io
import re
import select
import socket
import ssl
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

TransportError = (OSError, http.client.HTTPException)
_MAX_LINE = 65536  # http.client's limits on a reply's lines and header count
_MAX_HEADERS = 100
_FRAMING = (b"content-length", b"transfer-encoding", b"connection")
# A reply's body: read at once up to _PIECE, past it in pieces, so that a Content-Length or
# chunk size the body does not hold reserves no memory for it; none larger than _MAX_BODY
# (a LIST of many thousand objects is tens of MB).
_PIECE = 1 << 24
_MAX_BODY = 1 << 30
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")  # what http.client refuses in a request target


class _Conn:
    """One connection: ``setup`` (http.client) connects it, ``reader`` buffers its replies."""

    def __init__(self, setup: http.client.HTTPConnection) -> None:
        self.setup = setup
        self.reader: io.BufferedReader | None = None

    @property
    def sock(self) -> socket.socket | None:
        return self.setup.sock

    def open(self, timeout: float) -> io.BufferedReader:
        if self.reader is None:
            self.setup.timeout = timeout
            self.setup.connect()
            self.reader = self.setup.sock.makefile("rb")
        return self.reader

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        self.setup.close()


class Pool:
    def __init__(
        self,
        server: str,
        *,
        context: ssl.SSLContext | None,
        size: int,
        proxy: str | None = None,
    ) -> None:
        parts = urlsplit(server)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.context = context
        self.size = max(size, 1)
        self.proxy = urlsplit(proxy) if proxy else None
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._host_header = parts.netloc.rpartition("@")[2]
        self._idle: list[_Conn] = []
        self._lock = threading.Lock()

    def send(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float,
    ) -> tuple[int, bytes]:
        """One request (``target``: path and query); raises one of ``TransportError``."""
        message = self._message(method, self._target(target), body, headers)
        conn = self._checkout()
        try:
            reader = conn.open(timeout)
            sock = conn.sock
            assert sock is not None
            sock.settimeout(timeout)
            sock.sendall(message)
            status, data, closes = _reply(reader)
        except BaseException:
            conn.close()
            raise
        if closes:
            conn.close()
        else:
            self._checkin(conn)
        return status, data

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _message(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> bytes:
        """The request's head and body as one string of bytes; a CR or LF in a header or a
        control character in the target is refused (as http.client does): header splitting."""
        if _BAD_TARGET.search(target):
            raise http.client.InvalidURL(f"control character in the request target {target!r}")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}"]
        lines.append("Accept-Encoding: identity")
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
                raise ValueError(f"invalid header {name!r}")
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + body if body else head

    def _target(self, target: str) -> str:
        if self.proxy is not None and not self.https:
            return self.origin + target  # a plain-HTTP proxy takes the absolute form
        return target

    def _checkout(self) -> _Conn:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect()
            if _dropped(conn):
                conn.close()
                continue
            return conn

    def _checkin(self, conn: _Conn) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(conn)
                return
        conn.close()

    def _connect(self) -> _Conn:
        """Not connected yet: ``_Conn.open`` connects (under the request's timeout)."""
        host, port = self.host, self.port
        if self.proxy is not None:
            host = self.proxy.hostname or ""
            port = self.proxy.port or (443 if self.proxy.scheme == "https" else 80)
        setup: http.client.HTTPConnection
        if self.https:
            setup = http.client.HTTPSConnection(host, port, context=self.context)
            if self.proxy is not None:
                setup.set_tunnel(self.host, self.port)
        else:
            setup = http.client.HTTPConnection(host, port)
        return _Conn(setup)


def _reply(reader: io.BufferedReader) -> tuple[int, bytes, bool]:
    """Status, body, and whether the server closes the connection after this reply."""
    while True:
        line = reader.readline(_MAX_LINE + 1)
        if not line:
            raise http.client.RemoteDisconnected("the server closed the connection without a reply")
        version, _, rest = line.partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or not code.isdigit():
            raise http.client.BadStatusLine(repr(line[:100]))
        status = int(code)
        fields = _head(reader)
        if not 100 <= status < 200:
            break  # an interim reply (100 Continue) is followed by the real one
    connection = fields.get(b"connection", b"").lower()
    closes = b"close" in connection
    if version == b"HTTP/1.0":
        closes = b"keep-alive" not in connection
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        return status, _chunked(reader), closes
    if status in (204, 304):
        return status, b"", closes
    length = fields.get(b"content-length")
    if length is None:  # the body ends where the connection does
        return status, _read(reader, _MAX_BODY + 1, until_end=True), True
    if not length.isdigit():
        raise http.client.HTTPException(f"bad Content-Length {length[:40]!r}")
    return status, _read(reader, int(length)), closes


def _read(reader: io.BufferedReader, size: int, *, until_end: bool = False) -> bytes:
    """``size`` bytes of the body (``until_end``: up to the end of the connection, at most
    ``size``); ``IncompleteRead`` if the connection ends first, over ``_MAX_BODY`` refused."""
    if size > _MAX_BODY and not until_end:
        raise http.client.HTTPException(f"reply body of {size} bytes, over {_MAX_BODY}")
    if size <= _PIECE:
        body = reader.read(size)
    else:
        pieces: list[bytes] = []
        got = 0
        while got < size and (piece := reader.read(min(_PIECE, size - got))):
            pieces.append(piece)
            got += len(piece)
        body = b"".join(pieces)
    if until_end:
        if len(body) > _MAX_BODY:
            raise http.client.HTTPException(f"reply body over {_MAX_BODY} bytes")
        return body
    if len(body) < size:
        raise http.client.IncompleteRead(body, size - len(body))
    return body


def _head(reader: io.BufferedReader) -> dict[bytes, bytes]:
    """The reply head's framing fields (lower-case names), read up to its empty line."""
    fields: dict[bytes, bytes] = {}
    for _ in range(_MAX_HEADERS + 1):
        line = reader.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return fields
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name in _FRAMING:
            fields[name] = value.strip()
    raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")


def _chunked(reader: io.BufferedReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = reader.readline(_MAX_LINE + 1)
        digits = line.split(b";", 1)[0].strip()
        if not digits or digits.strip(b"0123456789abcdefABCDEF"):
            raise http.client.IncompleteRead(b"".join(parts))
        size = int(digits, 16)
        if size == 0:
            _head(reader)  # the trailer, up to its empty line
            return b"".join(parts)
        total += size
        parts.append(_read(reader, size if total <= _MAX_BODY else _MAX_BODY + 1))
        reader.readline(_MAX_LINE + 1)  # the CRLF after the chunk


def _dropped(conn: _Conn) -> bool:
    """An idle keep-alive connection whose socket is readable was closed by the server (or
    holds bytes nobody asked for): either way it cannot carry the next request."""
    sock = conn.sock
    if sock is None:
        return False  # not connected yet: ``open`` connects it
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
