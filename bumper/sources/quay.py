"""Quay (quay.io and Red Hat Quay) notifications: repository push and Dockerfile builds.

Quay signs nothing; it can present a TLS client certificate, which only a TLS-terminating
proxy could check. The secret is therefore a URL token: the web layer passes the token from
the request URL as ``X-Bumper-Url-Token``, compared in constant time. Weaker than a signature
(the token sits in URLs and logs, and does not bind the body).

Mapping:

- repository push (``updated_tags``) → one ``image.pushed`` per tag of ``docker_url``;
- build events carry no event name, so they are told apart by their fields: with
  ``error_message`` → ``build.finished`` failure; with ``manifest_digests`` (only sent on
  success) → ``build.finished`` success; other build notifications (queued, started,
  cancelled) cannot be told apart and are ignored. A successful build also fires a repository
  push, which carries the image event, so builds only report the CI result: commit and ref
  from ``trigger_metadata``, repository from its ``git_url``, pipeline = ``docker_url``.

Quay has no delivery id.
"""

from __future__ import annotations

from typing import Any

from bumper.core.events import BuildStatus, Event
from bumper.errors import WebhookRejected
from bumper.sources import _auth
from bumper.sources._common import (
    MAX_EVENTS,
    branch_ref,
    build_event,
    drop,
    image_event,
    load_object,
    lst,
    repo_path,
    text,
)
from bumper.sources._headers import Headers

NAME = "quay"
# quay.io; a Red Hat Quay receiver names its own host with ``registry``.
REGISTRY_HOSTS: tuple[str, ...] = ("quay.io",)


AUTH = _auth.URL_TOKEN


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    if "updated_tags" in data:
        return _push(data)
    if "build_id" in data:
        return _build(data)
    return drop(NAME, "neither a repository push nor a build notification")


def _push(data: dict[str, Any]) -> list[Event]:
    image = text(data, "docker_url")
    tags = lst(data.get("updated_tags"))
    if len(tags) > MAX_EVENTS:
        raise WebhookRejected("too many tags in one delivery", status=400, reason="malformed")
    events: list[Event] = []
    for tag in tags:
        events += image_event(
            NAME, "image.pushed", image, tag=tag if isinstance(tag, str) else None
        )
    return events or drop(NAME, "repository push without updated tags")


def _build(data: dict[str, Any]) -> list[Event]:
    if "error_message" in data:
        status: BuildStatus = "failure"
    elif "manifest_digests" in data:
        status = "success"
    else:
        return drop(NAME, "build notification that is not a success or a failure")
    trigger = data.get("trigger_metadata")
    return build_event(
        NAME,
        status,
        commit=text(trigger, "commit"),
        ref=branch_ref(text(trigger, "ref")),
        repository=repo_path(text(trigger, "git_url")),
        pipeline=text(data, "docker_url"),
        url=text(data, "homepage"),
    )
