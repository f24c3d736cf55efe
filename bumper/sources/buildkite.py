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
(waiting at a block step) is pending. A delivery without ``build.state`` (the docs' own
example elides it) is never a success: the URL may name the outcome (``?event=build_success``,
``build_failure``, ``build_cancelled``: one pipeline ``notify`` webhook per state, each with
``if: build.state == ...``), and without one it is ``unknown`` with ``extra.ambiguous`` saying
so, as is a hint the state contradicts; the worker records an ``ambiguous`` decision. url =
``build.web_url``, else the build page from the pipeline's ``web_url``, or (EventBridge, which
sends no URL) from the organization and pipeline slugs and the build number. Package
Registries events are not container pushes and are ignored. ``ping`` events are pings. The
EventBridge ``id`` is the delivery id (webhooks carry none).

Run: Buildkite reports a build's end once (job events are not build results and are dropped),
but one build may reach Bumper twice, by a webhook and by EventBridge, and one commit may be
built more than once (a branch and a tag build, a rebuild). The build's UUID (``build.id`` in a
webhook, ``build.uuid`` in EventBridge) is ``extra.run_id``, so both notifications of one build
count once and two builds of one commit count as two.
"""

from __future__ import annotations

import re
from typing import Any

from bumper.core.events import BuildStatus, Event
from bumper.sources import _auth, _hints
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
from bumper.sources._hints import EVENT_HINT_HEADER

NAME = "buildkite"
WEB = "https://buildkite.com"
_SLUG = re.compile(r"[A-Za-z0-9_-]+")
EVENT_HINTS = frozenset(_hints.OUTCOMES)
AMBIGUOUS = (
    "this Buildkite build.finished does not say how the build ended (no build.state): name it "
    "in the URL, with one pipeline notify webhook per state, "
    'POST /hooks/<receiver>?event=build_success with if: build.state == "passed" (and '
    '?event=build_failure for "failed", ?event=build_cancelled for "canceled")'
)
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
    hint = header(headers, EVENT_HINT_HEADER)
    if "detail-type" in data:
        if text(data, "detail-type") != "Build Finished":
            return drop(NAME, f"EventBridge detail-type {text(data, 'detail-type')!r}")
        return _build(obj(data, "detail"), hint)
    event = header(headers, "X-Buildkite-Event") or text(data, "event")
    if event != "build.finished":
        return drop(NAME, f"event {event!r} is not build.finished")
    return _build(data, hint)


def _build(data: dict[str, Any], hint: str | None) -> list[Event]:
    build, pipeline = obj(data, "build"), obj(data, "pipeline")
    state = text(build, "state")
    told = map_status(STATES, state)
    if state is not None and told is None:
        return drop(NAME, f"build state {state!r} is not final")
    extra: dict[str, Any] = _run(build)
    if build.get("blocked") is True and told in (None, "pending"):
        status: BuildStatus = "pending"  # waiting at a block step: not finished
    else:
        # The docs' own example elides the state: a finished build that does not say how it
        # ended is never a success, but an ambiguous result naming the URL to configure.
        status, unclear = _hints.outcome(told, hint, AMBIGUOUS)
        extra.update(unclear)
    tag = text(build, "tag")
    return build_event(
        NAME,
        status,
        commit=text(build, "commit"),
        ref=branch_ref(tag, tag=True) if tag else branch_ref(text(build, "branch")),
        repository=repo_path(first_text(text(pipeline, "repository"), text(pipeline, "repo"))),
        pipeline=first_text(text(pipeline, "slug"), text(pipeline, "name")),
        url=first_text(text(build, "web_url"), _build_page(data)),
        extra=extra,
    )


def _build_page(data: dict[str, Any]) -> str | None:
    """The build's page, as Buildkite links builds: the pipeline's ``web_url`` (webhook) or
    ``https://buildkite.com/<organization>/<pipeline>/builds/<number>`` (EventBridge, which
    sends the slugs and the number but no URL)."""
    number = obj(data, "build").get("number")
    if type(number) is not int:
        return None
    pipeline = obj(data, "pipeline")
    page = text(pipeline, "web_url")
    if page is None:
        organization, slug = text(data, "organization", "slug"), text(pipeline, "slug")
        if not organization or not slug or not _SLUG.fullmatch(organization + slug):
            return None
        page = f"{WEB}/{organization}/{slug}"
    return f"{page.rstrip('/')}/builds/{number}"


def _run(build: dict[str, Any]) -> dict[str, Any]:
    """``extra.run_id``: the build's UUID, spelt ``id`` (webhook) or ``uuid`` (EventBridge)."""
    run_id = capped_id(first_text(text(build, "id"), text(build, "uuid")))
    return {"run_id": run_id} if run_id else {}
