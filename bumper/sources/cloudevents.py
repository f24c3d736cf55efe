"""Generic CloudEvents (v1.0) receiver, structured or binary mode, plus the OPTIONS handshake.

Secret: the CloudEvents Web Hook access token, ``Authorization: Bearer <token>``; the web
layer's ``X-Bumper-Url-Token`` (the spec's discouraged ``access_token`` query parameter) is
accepted too. Compared in constant time.

Event types understood (others are ignored, ``[]``):

- ``harbor.artifact.pushed`` / ``harbor.artifact.deleted``: as the harbor sender;
- ``dev.cdevents.*``: as the cdevents sender (``data`` is the CDEvent);
- ``dev.tekton.event.*``: as the tekton sender;
- ``google.cloud.pubsub.topic.v1.messagePublished`` (Eventarc): as the gar sender;
- Bumper's own types, for any tool that wants to notify Bumper directly:
  ``dev.bumper.image.pushed`` / ``dev.bumper.image.deleted`` with data
  ``{"image": "ghcr.io/acme/api", "tag": "1.2.3", "digest": "sha256:..."}`` (``image`` may
  carry the tag/digest itself), and ``dev.bumper.build.finished`` with data
  ``{"status": "success", "commit": "...", "ref": "refs/heads/main", "repository":
  "acme/api", "pipeline": "ci", "url": "https://..."}`` (status one of success, failure,
  cancelled, running, pending, skipped, unknown).

A body that is not a CloudEvent is refused (400). The delivery id is the event ``id``; the
dedupe key is ``source`` and ``id`` together (the same ``id`` from another source is another
event).
The abuse-protection handshake (an ``OPTIONS`` request with ``WebHook-Request-Origin``) is
answered by the web layer with ``handshake_headers``, which grants only the origins configured
on the receiver (``allowed_origins``), none by default.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, get_args

from bumper.core.events import BuildStatus, Event, ImageEventType
from bumper.sources import _auth, _cloudevent, cdevents, gar, harbor, tekton
from bumper.sources._common import (
    branch_ref,
    build_event,
    capped_id,
    drop,
    header,
    image_event,
    obj,
    split_reference,
    text,
)
from bumper.sources._headers import Headers

NAME = "cloudevents"
# Any tool may emit CloudEvents: a receiver lists what it speaks for in ``scope.images``.
REGISTRY_HOSTS: tuple[str, ...] = ()
BUMPER_IMAGE: dict[str, ImageEventType] = {
    "dev.bumper.image.pushed": "image.pushed",
    "dev.bumper.image.deleted": "image.deleted",
}
PUBSUB_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
STATUSES = frozenset(get_args(BuildStatus))


AUTH = _auth.BEARER_OR_URL_TOKEN


def handshake_origin(headers: Mapping[str, str]) -> str | None:
    """The ``WebHook-Request-Origin`` of a validation request, lower-cased; ``None`` if absent."""
    origin = header(headers, "WebHook-Request-Origin")
    return origin.strip().lower() if origin and origin.strip() else None


def handshake_headers(
    headers: Mapping[str, str], allowed_origins: Collection[str]
) -> dict[str, str] | None:
    """Response headers for a CloudEvents Web Hook ``OPTIONS`` validation request.

    ``None`` when the request carries no ``WebHook-Request-Origin`` (not a handshake) or the
    origin is not one of ``allowed_origins`` (lower-case host names; empty: none is): the web
    layer answers 403 then. Otherwise grant that origin with no rate limit.
    """
    origin = handshake_origin(headers)
    if origin is None or origin not in allowed_origins:
        return None
    return {"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*", "Allow": "POST"}


def delivery_id(headers: Headers, body: bytes) -> str | None:
    event = _cloudevent.read(headers, body, require=False)
    return capped_id(event.id) if event else None


def dedupe_key(headers: Headers, body: bytes) -> str | None:
    """``source`` and ``id``: the same ``id`` from another source is another event."""
    return _cloudevent.identity(_cloudevent.read(headers, body, require=False))


def parse(headers: Headers, body: bytes) -> list[Event]:
    event = _cloudevent.read(headers, body)
    if event is None:  # read() raises instead when required
        return []
    kind = event.type
    if kind in harbor.KINDS:
        return harbor.parse_data(NAME, kind, event.data)
    if kind.startswith(cdevents.PREFIX):
        return cdevents.parse_cdevent(NAME, kind, event.data)
    if kind.startswith(tekton.PREFIX):
        return tekton.parse_tekton(NAME, kind, event.data)
    if kind == PUBSUB_TYPE:
        return gar.parse_envelope(NAME, obj(event.data))
    if kind in BUMPER_IMAGE:
        return _bumper_image(BUMPER_IMAGE[kind], obj(event.data))
    if kind == "dev.bumper.build.finished":
        return _bumper_build(obj(event.data))
    return drop(NAME, f"CloudEvent type {kind[:80]!r} is not one Bumper acts on")


def _bumper_image(kind: ImageEventType, data: dict[str, Any]) -> list[Event]:
    reference = text(data, "image")
    if reference is None:
        return drop(NAME, f"{kind} without an image")
    name, tag, digest = split_reference(reference)
    return image_event(
        NAME, kind, name, tag=text(data, "tag") or tag, digest=text(data, "digest") or digest
    )


def _bumper_build(data: dict[str, Any]) -> list[Event]:
    status = text(data, "status")
    if status not in STATUSES:
        return drop(NAME, f"build status {status!r} is not one of {sorted(STATUSES)}")
    return build_event(
        NAME,
        status,  # type: ignore[arg-type]  # checked against BuildStatus just above
        commit=text(data, "commit"),
        ref=branch_ref(text(data, "ref")),
        repository=text(data, "repository"),
        pipeline=text(data, "pipeline"),
        url=text(data, "url"),
    )
