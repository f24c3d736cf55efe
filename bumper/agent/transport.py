"""Keep-alive HTTP(S) connections to one API server, shared by the applier's threads.

``Pool.send`` sends one request on an idle connection (or a new one) and returns the status
and the whole body; a connection goes back to the pool unless the server said it closes it,
and at most ``size`` idle connections are kept (the applier runs ``workers`` requests at once,
so a pool of that size means no TLS handshake after the first ``workers`` requests).
Why not urllib3: its per-request URL parsing, pool-key and header work is about half the
client's CPU per request at a thousand applies. And a request goes out in one write (headers
and body together, ``_OneWrite``): both http.client and urllib3 write the body separately, and
on a loaded machine each write to loopback may wake the API server (and preempt the client)
once more per request.
A connection that sat idle and was closed by the server (restart, idle timeout) is noticed
before use (its socket reads as ready: end of file) and replaced.
Proxies: ``proxy`` (from the environment, decided by the caller) tunnels HTTPS with CONNECT,
and takes plain HTTP requests in absolute form.
Must not: retry, decode bodies or know about Kubernetes (``kube.Client`` does).
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

TransportError = (OSError, http.client.HTTPException)


class _OneWrite(http.client.HTTPConnection):
    """Headers and a bytes body in one ``send``. Overrides ``_send_output``, the one place
    http.client joins the buffered header lines (the stdlib's own behaviour up to Python
    3.5); any other body (a file, chunks) goes the stdlib's way."""

    _buffer: list[bytes]

    def _send_output(self, message_body: object = None, encode_chunked: bool = False) -> None:
        if not isinstance(message_body, bytes) or encode_chunked:
            super()._send_output(message_body, encode_chunked)  # type: ignore[misc]
            return
        self._buffer.extend((b"", b""))
        message = b"\r\n".join(self._buffer) + message_body
        del self._buffer[:]
        self.send(message)


class _OneWriteHTTPS(_OneWrite, http.client.HTTPSConnection):
    pass


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
        self._idle: list[http.client.HTTPConnection] = []
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
        conn = self._checkout(timeout)
        try:
            conn.request(method, self._target(target), body=body, headers=dict(headers))
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            self._checkin(conn)
        return response.status, data

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _target(self, target: str) -> str:
        if self.proxy is not None and not self.https:
            return self.origin + target  # a plain-HTTP proxy takes the absolute form
        return target

    def _checkout(self, timeout: float) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect(timeout)
            if _dropped(conn):
                conn.close()
                continue
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            return conn

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(conn)
                return
        conn.close()

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        host, port = self.host, self.port
        if self.proxy is not None:
            host = self.proxy.hostname or ""
            port = self.proxy.port or (443 if self.proxy.scheme == "https" else 80)
        conn: http.client.HTTPConnection
        if self.https:
            conn = _OneWriteHTTPS(host, port, timeout=timeout, context=self.context)
            if self.proxy is not None:
                conn.set_tunnel(self.host, self.port)
        else:
            conn = _OneWrite(host, port, timeout=timeout)
        return conn


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection whose socket is readable was closed by the server (or
    holds bytes nobody asked for): either way it cannot carry the next request."""
    sock = conn.sock
    if sock is None:
        return False  # not connected yet: ``request`` connects it
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
