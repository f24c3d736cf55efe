"""Buildkite pipeline webhooks (``build.finished``) and its Amazon EventBridge "Build Finished".

Secret: the webhook token. Buildkite sends it one of two ways, chosen per webhook:

- ``X-Buildkite-Token: <token>`` (clear text, a shared-token check), or
- ``X-Buildkite-Signature: timestamp=<unix>,signature=<hex HMAC-SHA256(token,
  "<timestamp>.<raw body>")>``; the timestamp must be within the receiver's replay window
  (``replay_window_seconds``, default 300) of now. When this header is present it must
  verify; the token is not consulted. A signed delivery is deduplicated on its signed body
  and event name, so a re-signed retry of the same body is still a duplicate.

For the EventBridge variant, configure the API destination connection as an API key with
header ``X-Buildkite-Token`` and the secret as value.

Mapping: ``build.finished`` → ``build.finished`` with state passed → success, failed →
failure, canceled → cancelled, skipped / not_run → skipped; a build finished ``blocked``
(waiting at a block step) is pending. Package Registries events are not container pushes and
are ignored. ``ping`` events are pings. The EventBridge ``id`` is the delivery id (webhooks
carry none).

Run: Buildkite reports a build's end once (job events are not build results and are dropped),
but one build may reach Bumper twice, by a webhook and by EventBridge, and one commit may be
built more than once (a branch and a tag build, a rebuild). The build's UUID (``build.id`` in a
webhook, ``build.uuid`` in EventBridge) is ``extra.run_id``, so both notifications of one build
count once and two builds of one commit count as two.
"""

from __future__ import annotations

from typing import Any

from bumper.core.events import BuildStatus, Event
from bumper.sources import _auth
from bumper.sources._common import (
    branch_ref,
    build_event,
    capped_id,
    drop,
    first_text,
    header,
    load_object,
    map_status,
    obj,
    repo_path,
    text,
)
from bumper.sources._headers import Headers

NAME = "buildkite"
STATES: dict[str, BuildStatus] = {
    "passed": "success",
    "failed": "failure",
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "skipped": "skipped",
    "not_run": "skipped",
    "blocked": "pending",
}


def _check(headers: Headers, body: bytes, secret: str) -> _auth.Signed | None:
    signature = header(headers, "X-Buildkite-Signature")
    if signature is not None:
        stamp = _verify_signature(signature, body, secret)
        signed = _auth.signed_body(body, header(headers, "X-Buildkite-Event"))
        return _auth.Signed(identity=signed.identity, timestamp=stamp)
    _auth.check_token(headers.get("X-Buildkite-Token"), header="X-Buildkite-Token", secret=secret)
    return None


AUTH = _auth.Scheme("buildkite-token-or-signature", _check)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Buildkite-Signature`` value Buildkite sends (used by tests and docs)."""
    digest = _auth.hmac_hex(secret, f"{timestamp}.".encode() + body)
    return f"timestamp={timestamp},signature={digest}"


def _verify_signature(value: str, body: bytes, secret: str) -> int:
    """The signed timestamp, once the signature matched (``Scheme.verify`` checks its window)."""
    parts = dict(part.strip().partition("=")[::2] for part in value.split(","))
    stamp, presented = parts.get("timestamp", ""), parts.get("signature", "")
    if not stamp.isdigit() or len(stamp) > 12 or not presented:
        raise _auth.wrong("X-Buildkite-Signature (malformed)", "bad-signature")
    expected = _auth.hmac_hex(secret, f"{stamp}.".encode() + body)
    if not _auth.same(presented.lower(), expected):
        raise _auth.wrong("X-Buildkite-Signature", "bad-signature")
    return int(stamp)


def delivery_id(headers: Headers, body: bytes) -> str | None:
    data = load_object(body)
    return capped_id(data.get("id")) if "detail-type" in data else None


def is_ping(headers: Headers, body: bytes) -> bool:
    return (header(headers, "X-Buildkite-Event") or "").lower() == "ping"


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    if "detail-type" in data:
        if text(data, "detail-type") != "Build Finished":
            return drop(NAME, f"EventBridge detail-type {text(data, 'detail-type')!r}")
        return _build(obj(data, "detail"))
    event = header(headers, "X-Buildkite-Event") or text(data, "event")
    if event != "build.finished":
        return drop(NAME, f"event {event!r} is not build.finished")
    return _build(data)


def _build(data: dict[str, Any]) -> list[Event]:
    build, pipeline = obj(data, "build"), obj(data, "pipeline")
    state = text(build, "state")
    status = "pending" if build.get("blocked") is True else map_status(STATES, state)
    if status is None:
        # The docs' own example elides the state; a finished build with no state is unknown.
        status = "unknown" if state is None else None
    if status is None:
        return drop(NAME, f"build state {state!r} is not final")
    tag = text(build, "tag")
    return build_event(
        NAME,
        status,
        commit=text(build, "commit"),
        ref=branch_ref(tag, tag=True) if tag else branch_ref(text(build, "branch")),
        repository=repo_path(first_text(text(pipeline, "repository"), text(pipeline, "repo"))),
        pipeline=first_text(text(pipeline, "slug"), text(pipeline, "name")),
        url=text(build, "web_url"),
        extra=_run(build),
    )


def _run(build: dict[str, Any]) -> dict[str, Any]:
    """``extra.run_id``: the build's UUID, spelt ``id`` (webhook) or ``uuid`` (EventBridge)."""
    run_id = capped_id(first_text(text(build, "id"), text(build, "uuid")))
    return {"run_id": run_id} if run_id else {}
