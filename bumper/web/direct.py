"""Requests the serving front hands to the app without gunicorn's request object.

``bumper.web.serving`` frames each request in its event loop. For a route the app registers
here (the webhook intake: ``POST /hooks/...``), a *plain* request is parsed by ``parse`` into
the few WSGI environ keys the route reads, and its reply is written by ``reply``. Why:
gunicorn's request parser, environ builder and response writer cost about as much CPU as the
receiver's own work on a delivery. Skipping them served 1.4-1.5 times as many deliveries per
second under ``bench/ingest.py`` (docs/receiver.md, bench/README.md).

Only plain requests are taken. Anything unusual returns None and goes the ordinary way, to
gunicorn's parser and its own replies (400s included), exactly as before:

- a request line other than ``<METHOD> <target> HTTP/1.1`` with the route's method and path
  prefix, or a target with anything but visible ASCII, a ``%`` or a ``#``;
- a line not ended by CRLF, a header line without a token name and a colon, a name with an
  underscore (gunicorn drops those), a value with a control character, a repeated header;
- ``Transfer-Encoding`` (chunked bodies), ``Upgrade``, a ``Connection`` other than
  ``keep-alive`` or ``close``, an ``Expect`` other than ``100-continue`` (the front has
  answered that one already);
- over gunicorn's own limits (``limit_request_line``, ``limit_request_fields``,
  ``limit_request_field_size``), so a request refused there is still refused.

Pure: no I/O, no clock (``reply`` takes the date).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

Environ = dict[str, Any]
Reply = tuple[int, Sequence[tuple[str, str]], bytes]

EXTENSION = "bumper.direct_route"

# Header lines: a token name without "_" (gunicorn drops those), a colon, and a value of
# visible ASCII, space, tab and obs-text (latin-1, as gunicorn decodes values).
_FIELDS = re.compile(rb"(?:[!#$%&'*+.^`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*(?:\r\n|\Z))*")
# Handled by the front or not at all: checked one by one.
_SPECIAL = frozenset({b"transfer-encoding", b"upgrade", b"connection", b"expect"})
# An origin-form target without percent-encoding or a fragment: PATH_INFO is the path as sent.
_TARGET = re.compile(rb"/[!\x22$&-~]*")
_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


@dataclass(frozen=True)
class Limits:
    """gunicorn's own bounds on a request (its ``limit_request_*`` settings)."""

    request_line: int = 4094
    fields: int = 100
    field_size: int = 8190


@dataclass(frozen=True)
class DirectRoute:
    """A route the front serves directly: ``method`` requests whose path starts ``prefix``
    and that ``match`` accepts (None: the ordinary way), on any listener but ``skip``."""

    method: bytes
    prefix: bytes
    match: Callable[[str], Any]
    handle: Callable[[Environ, Any], Reply]
    skip: Callable[[Any], bool] = lambda _listener: False


@dataclass(frozen=True)
class DirectRequest:
    route: DirectRoute
    environ: Environ
    matched: Any
    keep_alive: bool


def register(app: Any, route: DirectRoute) -> None:
    """Offer ``route`` to the serving front that runs ``app`` (a Flask app)."""
    app.extensions[EXTENSION] = route


def route_of(app: Any) -> DirectRoute | None:
    extensions = getattr(app, "extensions", None)
    route = extensions.get(EXTENSION) if isinstance(extensions, dict) else None
    return route if isinstance(route, DirectRoute) else None


def parse(
    route: DirectRoute, request: bytes, listener: Any, limits: Limits
) -> DirectRequest | None:
    """``request`` (one framed request, head and body) as a ``DirectRequest``, or None when
    it is not a plain request for ``route`` (see the module's list)."""
    if not request.startswith(route.method + b" " + route.prefix) or route.skip(listener):
        return None
    head_end = request.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = request[:head_end].split(b"\r\n")
    environ = _request_line(route, lines[0], limits)
    if environ is None or len(lines) - 1 > limits.fields:
        return None
    keep_alive = _headers(lines[1:], environ, limits)
    if keep_alive is None:
        return None
    matched = route.match(environ["PATH_INFO"])
    if matched is None:
        return None
    body = request[head_end + 4 :]
    length = environ.get("CONTENT_LENGTH", "0")
    if not (length.isascii() and length.isdigit()) or len(body) != int(length):
        return None  # not what the framer framed: let gunicorn read it
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = True
    return DirectRequest(route, environ, matched, keep_alive)


def _request_line(route: DirectRoute, line: bytes, limits: Limits) -> Environ | None:
    if len(line) > limits.request_line or b"\n" in line:
        return None
    parts = line.split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1" or _TARGET.fullmatch(parts[1]) is None:
        return None
    path, _, query = parts[1].decode("ascii").partition("?")
    return {
        "REQUEST_METHOD": route.method.decode("ascii"),
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
    }


def _headers(lines: list[bytes], environ: Environ, limits: Limits) -> bool | None:
    """Add the header lines to ``environ``; whether the connection stays open, or None."""
    if _FIELDS.fullmatch(b"\r\n".join(lines)) is None:
        return None
    keep_alive = True
    for line in lines:
        if len(line) > limits.field_size:
            return None
        name, _, raw = line.partition(b":")
        field = name.lower()
        value = raw.strip(b" \t")
        if field in _SPECIAL:
            if field == b"connection":
                keep_alive = value.lower() == b"keep-alive"
                if not keep_alive and value.lower() != b"close":
                    return None
            elif field != b"expect" or value.lower() != b"100-continue":
                return None
        key = _key(name)
        if key in environ:
            return None
        environ[key] = value.decode("latin-1")
    return keep_alive


def _key(name: bytes) -> str:
    key = name.decode("ascii").upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


def status_line(status: int) -> str:
    """``202 Accepted``: looked up, since ``HTTPStatus(status)`` per reply was a measurable
    share of a delivery."""
    return _STATUS_LINES.get(status) or f"{status} {HTTPStatus(status).phrase}"


def reply(
    status: int, headers: Sequence[tuple[str, str]], body: bytes, *, date: str, keep_alive: bool
) -> bytes:
    """The HTTP/1.1 reply: the route's headers plus ``Date`` (and ``Connection: close``)."""
    head = [f"HTTP/1.1 {status_line(status)}\r\nDate: {date}\r\n"]
    head.extend(f"{name}: {value}\r\n" for name, value in headers)
    if not keep_alive:
        head.append("Connection: close\r\n")
    head.append("\r\n")
    return "".join(head).encode("latin-1") + body
