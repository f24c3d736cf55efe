"""The web process's gunicorn worker: a request is read whole before a thread serves it.

gunicorn's gthread worker gives a connection to a thread once its first byte arrives; the
thread then blocks until the headers and body are in, so a dozen clients sending slowly held
every thread and ``/healthz`` timed out (issue 13). ``BufferingWorker`` keeps gthread's thread
pool for the app (Flask, the Redis client and the CPU pinning are unchanged) but reads each
request in the worker's event loop, without blocking, and submits it to a thread only once
``framing.RequestFramer`` says it is whole. A slow client costs a socket and a buffer, never a
thread. ``FrontLimits`` bound what it may cost:

- the request line and headers must arrive within ``header_timeout`` of the connection (or of
  its first byte, on a kept-alive connection), the body within ``body_timeout`` after that;
  otherwise 408 and close. An idle kept-alive connection is closed after ``keepalive``;
- at most ``max_connections`` per worker. At the bound the oldest connection that is not being
  served (still sending, idle or closing) is closed, with a 503 if it was sending, so a new
  client (a health probe, a sender) is always read. Buffered request bytes are bounded by
  ``buffer_bytes`` per worker in the same way;
- a request that cannot be framed (ambiguous length, bad chunk, over a size limit, cut short
  by the client) is answered by the front itself, 400/413/431 in the receivers' JSON shape,
  and nothing about it is logged (a request line can carry a URL token);
- the thread parses the request from memory: it never reads the socket, so a request the
  framer misjudged fails at once instead of holding the thread. Writing the reply has
  ``body_timeout`` too.

It serves HTTP/1.x without TLS: TLS and HTTP/2 end at the Ingress or proxy in front
(docs/receiver.md). It must not log request lines, headers or bodies.
"""

from __future__ import annotations

import errno
import os
import resource
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any, ClassVar

from gunicorn import http, util
from gunicorn.workers.gthread import TConn, ThreadWorker

from bumper.web import direct, framing
from bumper.web.replies import reply_body

_RECV_BYTES = 65_536
_MAX_HEADER_BYTES = 65_536
# How long a closing connection may still send (its reply is read meanwhile) before it is cut.
_LINGER_SECONDS = 2.0
# Deadlines are checked at most this often (the event loop also wakes up once a second).
_EXPIRY_PERIOD = 0.25


@dataclass(frozen=True)
class FrontLimits:
    header_timeout: float
    body_timeout: float
    keepalive: float
    max_connections: int
    buffer_bytes: int
    max_body_bytes: int
    max_header_bytes: int = _MAX_HEADER_BYTES


@dataclass(eq=False)
class _Reading:
    """A connection in the front: ``idle`` (kept alive), ``headers``, ``body`` or ``closing``."""

    conn: Any  # gunicorn's TConn
    framer: framing.RequestFramer
    phase: str
    deadline: float
    buffer: bytearray = field(default_factory=bytearray)


def worker_class(limits: FrontLimits) -> type[BufferingWorker]:
    """The worker class for gunicorn's ``worker_class`` setting, bound to ``limits``."""
    return type("BufferingWorker", (BufferingWorker,), {"limits": limits})


class BufferingWorker(ThreadWorker):  # type: ignore[misc]
    limits: ClassVar[FrontLimits]
    alive: bool  # gunicorn's: False once the worker is stopping

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[Any, _Reading] = {}  # insertion order = oldest first
        self.buffered = 0
        self._next_expiry = 0.0
        self._direct: direct.DirectRoute | None = None  # set once the app is loaded
        self._direct_limits = direct.Limits(
            request_line=self.cfg.limit_request_line or 1 << 30,
            fields=self.cfg.limit_request_fields or 1 << 30,
            field_size=self.cfg.limit_request_field_size or 1 << 30,
        )

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        if cfg.is_ssl:
            raise SystemExit("bumper: the web process serves plain HTTP; end TLS in front of it")

    # --- the event loop: accepting and reading --------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            sock, client = listener.accept()
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        # Room for the next client: the bound never stops the worker from reading new ones.
        if self.nr_conns >= self.worker_connections:
            self._evict_oldest()
        self._start_reading(TConn(self.cfg, sock, client, listener.getsockname()), b"")

    def _start_reading(self, conn: Any, pipelined: bytes) -> None:
        idle = not pipelined
        timeout = self.limits.keepalive if idle and conn.initialized else self.limits.header_timeout
        entry = _Reading(
            conn,
            framing.RequestFramer(
                max_header_bytes=self.limits.max_header_bytes,
                max_body_bytes=self.limits.max_body_bytes,
            ),
            "idle" if idle and conn.initialized else "headers",
            time.monotonic() + timeout,
            bytearray(pipelined),
        )
        self.reading[conn] = entry
        self.buffered += len(pipelined)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, entry))
        if pipelined:
            self._advance(entry)

    def _on_readable(self, entry: _Reading, _fileobj: object) -> None:
        try:
            data = entry.conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(entry)
            return
        if not data:
            self._end_of_input(entry)
        elif entry.phase != "closing":
            if entry.phase == "idle":
                entry.phase = "headers"
                entry.deadline = time.monotonic() + self.limits.header_timeout
            entry.buffer += data
            self.buffered += len(data)
            self._advance(entry)
            if self.buffered > self.limits.buffer_bytes:
                self._shed_buffers()

    def _advance(self, entry: _Reading) -> None:
        outcome = entry.framer.feed(entry.buffer)
        if isinstance(outcome, framing.Complete):
            self._dispatch(entry, outcome.end)
        elif isinstance(outcome, framing.Refused):
            self._answer(entry, outcome.status, outcome.reason, outcome.message, linger=True)
        elif entry.phase == "headers" and entry.framer.headers_done:
            entry.phase = "body"
            entry.deadline = time.monotonic() + self.limits.body_timeout
            if entry.framer.expects_continue:
                _send_quietly(entry.conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")

    def _end_of_input(self, entry: _Reading) -> None:
        if entry.phase in ("idle", "closing") or not entry.buffer:
            self._close(entry)
        else:  # the client stopped sending halfway: it may still read the answer
            message = "the connection ended before the request was complete"
            self._answer(entry, 400, "incomplete-request", message, linger=False)

    def _dispatch(self, entry: _Reading, end: int) -> None:
        """Hand a whole request to a thread; bytes after it wait for the next turn."""
        conn = entry.conn
        self._forget(entry)
        conn.bumper_pipelined = bytes(entry.buffer[end:])
        request = bytes(entry.buffer[:end])
        conn.initialized = conn.data_ready = True
        plain = self._direct_request(conn, request)
        if plain is not None:
            future = self.tpool.submit(self.handle_direct, conn, plain)
            future.add_done_callback(
                lambda done: self.method_queue.defer(self.finish_request, conn, done)
            )
            return
        # gunicorn's own parser, over the request in memory rather than the socket.
        conn.parser = http.get_parser(self.cfg, [request], conn.client)
        self.enqueue_req(conn)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # Mounted under a prefix, gunicorn maps paths: only its own parser does that.
        mounted = bool(os.environ.get("SCRIPT_NAME"))
        self._direct = None if mounted else direct.route_of(self.wsgi)

    def _direct_request(self, conn: Any, request: bytes) -> direct.DirectRequest | None:
        route = self._direct
        if route is None:
            return None
        return direct.parse(route, request, conn.server, self._direct_limits)

    # --- deadlines and limits -------------------------------------------------------------

    def murder_keepalived(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_expiry:
            return
        self._next_expiry = now + _EXPIRY_PERIOD
        expired = [e for e in self.reading.values() if force or e.deadline <= now]
        for entry in expired:
            if entry.phase in ("headers", "body") and not force:
                message = "the request was not received in time"
                self._answer(entry, 408, "request-timeout", message, linger=False)
            else:
                self._close(entry)

    def murder_pending(self) -> None:
        """Nothing: gthread's deferred connections do not exist here (see ``murder_keepalived``)."""

    def _cap_keepalive(self, deadline: float) -> None:
        for entry in self.reading.values():
            if entry.phase == "idle":
                entry.deadline = min(entry.deadline, deadline)

    def _evict_oldest(self) -> None:
        if self.reading:
            self._evict(next(iter(self.reading.values())))

    def _shed_buffers(self) -> None:
        holding = (e for e in list(self.reading.values()) if e.buffer)
        while self.buffered > self.limits.buffer_bytes:
            entry = next(holding, None)
            if entry is None:
                return
            self._evict(entry)

    def _evict(self, entry: _Reading) -> None:
        if entry.phase in ("headers", "body"):
            message = "too many connections, retry later"
            self._answer(entry, 503, "server-busy", message, linger=False, retry_after=True)
        else:
            self._close(entry)

    # --- answering and closing ------------------------------------------------------------

    def _answer(
        self,
        entry: _Reading,
        status: int,
        reason: str,
        message: str,
        *,
        linger: bool,
        retry_after: bool = False,
    ) -> None:
        """Answer a request the app never sees, and close (after ``_LINGER_SECONDS`` at most
        of reading what the client still sends, so that it can read the answer)."""
        body = reply_body({"error": reason, "message": message})
        extra = "Retry-After: 1\r\n" if retry_after else ""
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: close\r\n\r\n"
        )
        _send_quietly(entry.conn.sock, head.encode() + body)
        if linger:
            self._linger(entry)
        else:
            self._close(entry)

    def _linger(self, entry: _Reading) -> None:
        try:
            entry.conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(entry)
            return
        self.buffered -= len(entry.buffer)
        entry.buffer = bytearray()
        entry.phase = "closing"
        entry.deadline = time.monotonic() + _LINGER_SECONDS

    def _forget(self, entry: _Reading) -> None:
        del self.reading[entry.conn]
        self.buffered -= len(entry.buffer)
        try:
            self.poller.unregister(entry.conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    def _close(self, entry: _Reading) -> None:
        self._forget(entry)
        self.nr_conns -= 1
        util.close(entry.conn.sock)

    # --- the thread side ------------------------------------------------------------------

    def handle(self, conn: Any) -> bool:
        """Serve one buffered request in a thread; True to keep the connection."""
        return self._serve(conn, partial(self._handle_parsed, conn))

    def handle_direct(self, conn: Any, plain: direct.DirectRequest) -> bool:
        """Serve a plain request of the app's direct route (``bumper.web.direct``) in a
        thread; True to keep the connection."""
        return self._serve(conn, partial(self._reply_directly, conn, plain))

    def _serve(self, conn: Any, serve: Callable[[], bool]) -> bool:
        """What every served request shares: the write deadline and what a failure costs."""
        conn.bumper_req = None
        try:
            conn.sock.settimeout(self.limits.body_timeout)  # for writing the reply
            return serve()
        except (http.errors.NoMoreData, StopIteration):
            return False
        except OSError as error:  # the client went away, or did not read the reply in time
            self.log.debug("reply not delivered: %s", type(error).__name__)
            return False
        except Exception as error:
            self.handle_error(conn.bumper_req, conn.sock, conn.client, error)
            return False

    def _handle_parsed(self, conn: Any) -> bool:
        req = conn.bumper_req = next(conn.parser)
        # The front answered any "Expect: 100-continue" before reading the body.
        req._expected_100_continue = False
        keepalive = self.handle_request(req, conn)
        return bool(keepalive and conn.parser.finish_body())

    def _reply_directly(self, conn: Any, plain: direct.DirectRequest) -> bool:
        """What gunicorn's ``handle_request`` does that matters here is done too: the request
        count for ``max_requests``, and closing once the worker is stopping or when
        keep-alive is off."""
        status, headers, body = plain.route.handle(plain.environ, plain.matched)
        self._count_request()
        keep_alive = plain.keep_alive and bool(self.alive) and self.cfg.keepalive > 0
        date = _http_date()
        conn.sock.sendall(direct.reply(status, headers, body, date=date, keep_alive=keep_alive))
        return keep_alive

    def _count_request(self) -> None:
        """gunicorn's ``max_requests``: stop after this many (its ``handle_request`` does it
        for the ordinary way)."""
        self.nr += 1
        if self.max_requests and self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False

    def finish_request(self, conn: Any, future: Any) -> None:
        """Back on the event loop after a thread served ``conn``: read its next request."""
        try:
            keepalive = not future.cancelled() and future.result() is True
            conn.sock.setblocking(False)
        except Exception:
            keepalive = False
        try:
            if keepalive and self.alive:
                self._start_reading(conn, conn.bumper_pipelined)
                return
            # Not gthread's close_graceful: it lingers blocking, here on the event loop.
            entry = _Reading(conn, _NO_FRAMER, "closing", 0.0)
            self.reading[conn] = entry
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, entry))
            self._linger(entry)
        except (OSError, ValueError):
            self.reading.pop(conn, None)
            self.nr_conns -= 1
            util.close(conn.sock)


_NO_FRAMER = framing.RequestFramer(max_header_bytes=0, max_body_bytes=0)
_DATE: list[Any] = [0, ""]


def _http_date() -> str:
    """The ``Date`` header's value, formatted once a second (``email.utils.formatdate``)."""
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[:] = [now, util.http_date(now)]
    return str(_DATE[1])


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    """Best effort, never blocking: a client that does not read loses the answer."""
    try:
        sock.send(data)
    except OSError:
        pass


def raise_open_files_limit(wanted: int, warn: Callable[[str], None]) -> int:
    """Raise this process's soft limit on open files towards ``wanted`` (at most the hard
    limit, which only root may raise), so that ``max_connections`` can be reached; workers
    inherit it. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if target > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft != resource.RLIM_INFINITY and soft < wanted:
        warn(
            f"open files limited to {soft} per process (hard limit {hard}): fewer than the "
            f"{wanted} that BUMPER_WEB__MAX_CONNECTIONS needs; raise the hard limit (ulimit -n)"
        )
    return soft
