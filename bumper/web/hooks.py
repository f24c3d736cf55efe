"""``POST /hooks/<receiver>``: size → type → verify → parse → filter → scope → dedup + enqueue
→ 202.

The intake reads the WSGI environ, not Flask's request: ``install_fast_path`` answers
``POST /hooks/...`` before Flask builds a request context, matches routes and runs its
signals, which cost as much as the rest of the delivery together (see docs/receiver.md and
bench/ingest.py). Everything else, ``OPTIONS`` handshakes included, goes through Flask,
whose view below calls the same ``handle``.

The intake never lets an exception through: every outcome is a JSON reply with a status from
the table in docs/receiver.md, counted in metrics and logged as one line with
the delivery id. Replies and logs carry reasons, never a header value, body or secret.

URL tokens (senders with no signature scheme) come from ``?token=`` (or ``?access_token=``,
the CloudEvents spelling) or a second path segment, ``/hooks/<receiver>/<token>``; they reach
the sender as the ``X-Bumper-Url-Token`` header and are never logged (gunicorn's access log,
which would print the request line, is off). An event hint, ``?event=build_success``
(``bumper.sources._hints``), is checked against the sender's allowed values once the delivery
is verified, and reaches the parser as ``X-Bumper-Event-Hint``; any other value is a 400.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import redis
from flask import Blueprint, Flask, Response, request

from bumper import logs
from bumper.core import events as events_module
from bumper.errors import WebhookRejected
from bumper.settings import listen_address
from bumper.sources import (
    EVENT_HINT_HEADER,
    DeliveryKey,
    Headers,
    Signed,
    cloudevents,
    hint_from_query,
)
from bumper.web import direct
from bumper.web import receivers as receivers_module
from bumper.web.intake import dedup_digest, job_ids
from bumper.web.listeners import address_of
from bumper.web.metrics import UNKNOWN_RECEIVER
from bumper.web.recent import record_outcome, summarise
from bumper.web.replies import reply_body
from bumper.web.state import WebState, state

log = logging.getLogger("bumper.web.hooks")
blueprint = Blueprint("hooks", __name__)

URL_TOKEN_HEADER = "X-Bumper-Url-Token"
REGISTRY_HEADER = "X-Bumper-Registry"
# Set by this layer only: a sender must not be able to smuggle them in.
_CONTEXT_ENVIRON = frozenset(
    "HTTP_" + name.upper().replace("-", "_")
    for name in (URL_TOKEN_HEADER, REGISTRY_HEADER, EVENT_HINT_HEADER)
)
_CHUNK = 65_536
# Written to the recent list by the intake script itself; a 503 cannot be written at all.
_RECORDED_BY_INTAKE = frozenset({"accepted", "duplicate", "redis-unavailable"})


@dataclass
class HookReply:
    """What happened to one request; turned into the reply, a metric and a log line."""

    status: int
    result: str
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delivery_id: str | None = None
    event_ids: tuple[str, ...] = ()


@dataclass
class Trace:
    """What is known about the delivery so far, for the log line even when it is refused."""

    delivery_id: str | None = None
    # Passed verification (or the receiver is insecure): recorded with the deliveries,
    # not with the refused requests (bumper.web.recent).
    authenticated: bool = False


def _rejected(status: int, reason: str, message: str) -> HookReply:
    return HookReply(status, reason, {"error": reason, "message": message})


@blueprint.route("/hooks/<name>", methods=["POST", "OPTIONS"])
@blueprint.route("/hooks/<name>/<token>", methods=["POST", "OPTIONS"])
def hook(name: str, token: str | None = None) -> Response:
    """The Flask view: ``OPTIONS`` handshakes, and ``POST`` when the fast path is not installed."""
    status, headers, body = handle(state(), request.environ, name, token)
    return Response(body, status=status, headers=headers)


def install_fast_path(app: Flask, st: WebState) -> None:
    """Answer ``POST /hooks/<name>[/<token>]`` straight from WSGI; the rest goes to Flask.

    Only exact matches of the two routes are taken (one or two non-empty segments), so a
    trailing slash or an extra segment still gets Flask's own reply, as before. The same
    route is offered to the serving front (``bumper.web.direct``), which then answers plain
    deliveries without gunicorn's request object either; never on the ops listener.
    """
    ops = listen_address(st.settings.web.ops_bind) if st.settings.web.ops_bind else None
    direct.register(
        app,
        direct.DirectRoute(
            method=b"POST",
            prefix=b"/hooks/",
            match=_route,
            handle=lambda environ, route: handle(st, environ, *route),
            skip=lambda listener: ops is not None and address_of(listener) == ops,
        ),
    )
    flask_app: Callable[..., Iterable[bytes]] = app.wsgi_app

    def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            route = _route(environ.get("PATH_INFO", ""))
            if route is not None:
                status, headers, body = handle(st, environ, *route)
                start_response(direct.status_line(status), headers)
                return [body]
        return flask_app(environ, start_response)

    app.wsgi_app = wsgi_app  # type: ignore[method-assign]


def _route(path_info: str) -> tuple[str, str | None] | None:
    if not path_info.startswith("/hooks/"):
        return None
    rest = path_info[7:]
    if not rest.isascii():
        # WSGI gives the path as latin-1; werkzeug's routing matches it decoded as UTF-8.
        rest = rest.encode("latin-1").decode("utf-8", "replace")
    parts = rest.split("/")
    if len(parts) > 2 or not all(parts):
        return None
    return parts[0], (parts[1] if len(parts) == 2 else None)


def handle(
    st: WebState, environ: dict[str, Any], name: str, token: str | None
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request to a hook URL: the status, headers and JSON body of the reply."""
    started = time.perf_counter()
    receiver = st.receivers.get(name)
    trace = Trace()
    try:
        if receiver is None:
            outcome = _rejected(404, "unknown-receiver", "no receiver is configured at this URL")
        elif environ.get("REQUEST_METHOD") == "OPTIONS":
            outcome = _handshake(environ, receiver)
        else:
            outcome = _deliver(st, environ, receiver, token, trace)
    except WebhookRejected as error:
        status = error.status if 400 <= error.status < 500 else 400
        outcome = _rejected(status, error.reason, str(error))
    except redis.RedisError as error:
        # Nothing is known to be stored: the sender must retry (its retry is accepted, or
        # answered "duplicate" if the script did run and only the reply was lost).
        retry = str(st.settings.web.retry_after_seconds)
        outcome = _rejected(503, "redis-unavailable", "queue unavailable, retry later")
        outcome.headers["Retry-After"] = retry
        log.warning("redis unavailable", extra={"exception": type(error).__name__})
    except Exception as error:  # a bug must still not lose the delivery: ask for a retry
        outcome = _rejected(503, "internal-error", "temporary failure, retry later")
        outcome.headers["Retry-After"] = str(st.settings.web.retry_after_seconds)
        log.error("unexpected error in webhook intake", extra={"exception": type(error).__name__})
    outcome.delivery_id = outcome.delivery_id or trace.delivery_id
    return _finish(st, receiver, outcome, started, trace.authenticated)


def _deliver(
    st: WebState,
    environ: dict[str, Any],
    receiver: receivers_module.ReceiverEndpoint,
    token: str | None,
    trace: Trace,
) -> HookReply:
    received_at = time.time()
    limit = min(receiver.max_body_bytes, st.settings.web.max_body_bytes)
    body = _read_body(environ, limit)
    if body is None:
        return _rejected(413, "body-too-large", f"the body exceeds {limit} bytes")
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if not receivers_module.accepts(mimetype):
        shown = mimetype[:60] or "none"
        return _rejected(415, "unsupported-media-type", f"expected JSON, got {shown}")
    headers = _headers(environ, receiver, token)
    sender = receiver.sender
    # The sender's own id (never raises); unverified until verify passes, used for logs.
    trace.delivery_id = sender.delivery_id(headers, body)
    signed = Signed()  # an insecure receiver verifies nothing: nothing is signed
    if receiver.secret is not None:
        try:
            signed = sender.verify(
                headers, body, receiver.secret, replay_window=receiver.replay_window
            )
        except WebhookRejected:
            raise
        except Exception as error:
            # A sender module must only raise WebhookRejected; treat anything else as
            # "not authenticated" and log only the type (a message could echo a credential).
            log.error(
                "verify failed", extra={"sender": receiver.type, "exception": type(error).__name__}
            )
            raise WebhookRejected(
                "the delivery could not be verified", status=401, reason="unverifiable"
            ) from None
    trace.authenticated = True
    if sender.is_ping(headers, body):
        return HookReply(200, "ping", {"status": "pong", "receiver": receiver.name})
    hint = hint_from_query(environ.get("QUERY_STRING"))
    if hint is not None:
        headers = Headers([*headers.items(), (EVENT_HINT_HEADER, sender.check_hint(hint))])
    # Sender.parse raises only WebhookRejected(400): a parser bug is logged and refused there.
    parsed = sender.parse(headers, body)
    allowed = [e for e in parsed if e.type in receiver.kinds]
    if not allowed:
        reason = "not-allowed" if parsed else "no-events"
        if parsed:
            kinds = sorted({e.type for e in parsed})
            log.info("events dropped", extra={"receiver": receiver.name, "types": kinds})
        return HookReply(200, "ignored", {"status": "ignored", "reason": reason, "events": []})
    allowed = _in_scope(st, receiver, allowed, trace)
    if not allowed:
        # Answered like other filtered deliveries (200: a retry would change nothing), but
        # counted and listed under its own result: it may be a misconfiguration or an attack.
        ignored = {"status": "ignored", "reason": "out-of-scope", "events": []}
        return HookReply(200, "out-of-scope", ignored)
    key = sender.key(headers, body, signed, trace.delivery_id, allowed)
    return _enqueue(st, receiver, key, allowed, received_at)


def _in_scope(
    st: WebState,
    receiver: receivers_module.ReceiverEndpoint,
    found: list[events_module.Event],
    trace: Trace,
) -> list[events_module.Event]:
    """The events the receiver may speak for (``bumper.core.scope``); the others are logged
    and counted, never queued."""
    kept, dropped = receiver.scope.split(found)
    if dropped:
        log.warning(
            "events out of scope",
            extra={
                "receiver": receiver.name,
                "delivery_id": trace.delivery_id,
                "dropped": dropped[:5],
                "dropped_count": len(dropped),
            },
        )
        st.metrics.dropped(receiver.name, "out-of-scope", len(dropped))
    return kept


def _enqueue(
    st: WebState,
    receiver: receivers_module.ReceiverEndpoint,
    key: DeliveryKey,
    allowed: list[events_module.Event],
    received_at: float,
) -> HookReply:
    delivery_id, delivery_key = key.delivery_id, key.key
    stamp = {"source": receiver.type, "delivery_id": delivery_id, "received_at": received_at}
    dicts = [event_dict(event, stamp) for event in allowed]
    digest = dedup_digest(receiver.name, delivery_key)
    ids = job_ids(digest, len(dicts))
    accepted_entry, duplicate_entry = summarise(receiver.name, delivery_id, received_at, dicts, ids)
    submission = st.intake.submit(
        receiver.name, delivery_key, dicts, accepted_entry, duplicate_entry, digest
    )
    if not submission.accepted:
        return HookReply(
            200,
            "duplicate",
            {"status": "duplicate", "delivery_id": delivery_id},
            delivery_id=delivery_id,
        )
    for data in dicts:
        st.metrics.event(receiver.name, data["type"])
    return HookReply(
        202,
        "accepted",
        {"status": "accepted", "delivery_id": delivery_id, "events": list(submission.job_ids)},
        delivery_id=delivery_id,
        event_ids=submission.job_ids,
    )


_FIELDS = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in (
        events_module.ImageEvent,
        events_module.BuildFinished,
        events_module.PullRequestComment,
    )
}


def event_dict(event: events_module.Event, stamp: dict[str, Any]) -> dict[str, Any]:
    """``events.to_dict(events.stamp(event, **stamp))`` without its deep copy.

    ``dataclasses.asdict`` copies recursively and ``replace`` re-validates: a third of the
    intake's own time. The dict is serialized into the job at once, so sharing ``extra`` with the
    event is harmless; tests/web/test_hooks.py checks the two are equal for every fixture.
    """
    data = {name: getattr(event, name) for name in _FIELDS[type(event)]}
    data.update(stamp)
    return data


def _read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The raw body, or None when it is over ``limit`` (checked before reading when possible).

    Without a Content-Length the body is read to its end only when the server marks the
    input as terminated (gunicorn does, for chunked bodies), as werkzeug does; otherwise there
    is no body. A body that ends before its length, or whose chunks are malformed, is the
    client's error (400 ``incomplete-request``), whatever the server raises for it: gunicorn's
    ``NoMoreData`` or ``ChunkMissingTerminator``, werkzeug's ``ClientDisconnected``.
    """
    try:
        return _read_limited(environ, limit)
    except Exception:
        raise WebhookRejected(
            "the body ended early or its chunks are malformed", reason="incomplete-request"
        ) from None


def _read_limited(environ: dict[str, Any], limit: int) -> bytes | None:
    stream = environ["wsgi.input"]
    length = _content_length(environ)
    if length is not None:
        if length > limit:
            return None
        body: bytes = stream.read(length)
        if len(body) < length:
            raise EOFError("the body is shorter than its Content-Length")
        return body
    if not environ.get("wsgi.input_terminated"):
        return b""
    # Chunked: read at most one byte past the limit.
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(parts)


def _content_length(environ: dict[str, Any]) -> int | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return max(length, 0)


def _headers(
    environ: dict[str, Any], receiver: receivers_module.ReceiverEndpoint | None, token: str | None
) -> Headers:
    """The request headers for the sender, context headers replaced by ours.

    Read from the WSGI environ (``HTTP_X_GITHUB_EVENT`` → ``X-Github-Event``): the sender
    looks names up case-insensitively.
    """
    pairs = [
        (key[5:].replace("_", "-"), value)
        for key, value in environ.items()
        if key.startswith("HTTP_") and key not in _CONTEXT_ENVIRON
    ]
    if "CONTENT_TYPE" in environ:
        pairs.append(("Content-Type", environ["CONTENT_TYPE"]))
    if "CONTENT_LENGTH" in environ:
        pairs.append(("Content-Length", environ["CONTENT_LENGTH"]))
    query = environ.get("QUERY_STRING")
    if not token and query:
        args = parse_qs(query)
        token = (args.get("token") or args.get("access_token") or [None])[0]
    if token:
        pairs.append((URL_TOKEN_HEADER, token))
    if receiver is not None and receiver.registry:
        pairs.append((REGISTRY_HEADER, receiver.registry))
    return Headers(pairs)


def _handshake(environ: dict[str, Any], receiver: receivers_module.ReceiverEndpoint) -> HookReply:
    """CloudEvents HTTP Web Hook abuse protection (spec §4.2): consent to configured origins.

    Only an origin listed in the receiver's ``allowed_origins`` (bumper.yaml) is granted; any
    other gets 403 without ``WebHook-Allowed-Origin``, and none is granted by default. No
    credential is required for the handshake itself, and every delivery is still verified. An
    ``OPTIONS`` without ``WebHook-Request-Origin`` is not a handshake and just lists the
    allowed methods. No CORS (``Access-Control-*``) header is ever sent: senders are servers.
    """
    headers = _headers(environ, None, None)
    granted = cloudevents.handshake_headers(headers, receiver.allowed_origins)
    if granted is not None:
        outcome = HookReply(200, "handshake", {"status": "allowed"})
        outcome.headers.update(granted)
    elif cloudevents.handshake_origin(headers) is not None:
        outcome = _rejected(
            403, "origin-not-allowed", "this origin is not in the receiver's allowed_origins"
        )
    else:
        outcome = HookReply(200, "options", {"status": "allowed"})
    outcome.headers["Allow"] = "POST, OPTIONS"
    return outcome


def _finish(
    st: WebState,
    receiver: receivers_module.ReceiverEndpoint | None,
    outcome: HookReply,
    started: float,
    authenticated: bool,
) -> tuple[int, list[tuple[str, str]], bytes]:
    label = receiver.name if receiver is not None else UNKNOWN_RECEIVER
    elapsed = time.perf_counter() - started
    st.metrics.observe(label, outcome.result, elapsed)
    logs.info_line(
        log,
        "delivery",
        {
            "receiver": label,
            "delivery_id": outcome.delivery_id,
            "status": outcome.status,
            "result": outcome.result,
            "events": list(outcome.event_ids),
            "duration_ms": round(elapsed * 1000, 2),
        },
    )
    if outcome.result not in _RECORDED_BY_INTAKE:
        authenticated = authenticated and outcome.status < 400
        record_outcome(
            st,
            label,
            outcome.status,
            outcome.result,
            outcome.delivery_id,
            authenticated=authenticated,
        )
    body = reply_body(outcome.payload)
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    headers.extend(outcome.headers.items())
    return outcome.status, headers, body
