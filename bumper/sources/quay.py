"""Quay (quay.io and Red Hat Quay) notifications: repository push and Dockerfile builds.

Quay signs nothing; it can present a TLS client certificate, which only a TLS-terminating
proxy could check. The secret is therefore a URL token: the web layer passes the token from
the request URL as ``X-Bumper-Url-Token``, compared in constant time. Weaker than a signature
(the token sits in URLs and logs, and does not bind the body).

Quay's bodies do not name their event. A user creates one notification per event in Quay,
each with its own URL, so the URL can name it: ``?event=<kind>`` (``EVENT_HINTS``, passed by
the web layer as ``X-Bumper-Event-Hint``). Mapping:

- repository push (``repo_push``, or a body with ``updated_tags``) → one ``image.pushed``
  per tag of ``docker_url``. ``updated_tags`` is a list of tag names, or in the 2013–2017
  shape an object of tag name → (v1) image id, whose keys are the tags.
- build notifications (a body with ``build_id``) → ``build.finished``, only for the final
  kinds: ``build_success`` → success, ``build_failure`` → failure, ``build_cancelled`` →
  cancelled; ``build_queued`` and ``build_start`` are dropped. Without a hint the body decides
  only where the legacy build manager left evidence: ``error_message`` (failures only) →
  failure, ``manifest_digests`` (successes only) → success. The build manager
  rewritten in 2020 sends neither, and the same body for start, success and cancel: such a
  body, or one whose evidence contradicts its hint, is *ambiguous*, never a success. It comes
  out as ``build.finished`` with status ``unknown`` and ``extra.ambiguous`` saying which URL
  to configure; the worker records that as an ``ambiguous`` decision.
- other kinds (``vulnerability_found``, mirror and expiry notices) are dropped.

A successful build also fires a repository push, which carries the image event, so builds
only report the CI result: commit (``commit``, or ``commit_sha`` in the old trigger schema)
and ref from ``trigger_metadata``, repository from its ``git_url``, pipeline = ``docker_url``
(the Quay repository whose build trigger ran: Quay has no other pipeline name), url =
``homepage``, else the build page derived from ``docker_url`` and ``build_id``.

Quay has no delivery id.
"""

from __future__ import annotations

from typing import Any

from bumper.core.events import BuildStatus, Event
from bumper.errors import WebhookRejected
from bumper.sources import _auth, _hints
from bumper.sources._common import (
    MAX_EVENTS,
    branch_ref,
    build_event,
    drop,
    first_text,
    header,
    image_event,
    load_object,
    lst,
    normal_name,
    obj,
    repo_path,
    text,
)
from bumper.sources._headers import Headers
from bumper.sources._hints import EVENT_HINT_HEADER

NAME = "quay"
# quay.io; a Red Hat Quay receiver names its own host with ``registry``.
REGISTRY_HOSTS: tuple[str, ...] = ("quay.io",)

FINAL_BUILDS: dict[str, BuildStatus] = _hints.OUTCOMES
UNFINISHED_BUILDS = frozenset({"build_queued", "build_start"})
OTHER_KINDS = frozenset(
    {
        "vulnerability_found",
        "repo_mirror_sync_started",
        "repo_mirror_sync_success",
        "repo_mirror_sync_failed",
        "repo_image_expiry",
    }
)
EVENT_HINTS = frozenset({"repo_push", *FINAL_BUILDS, *UNFINISHED_BUILDS, *OTHER_KINDS})

AMBIGUOUS = (
    "Quay build notifications do not say which event they are: create one Quay notification "
    "per event, each with its own URL, POST /hooks/<receiver>?event=build_success (and "
    "?event=build_failure, ?event=build_cancelled)"
)

AUTH = _auth.URL_TOKEN


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    hint = header(headers, EVENT_HINT_HEADER)
    if hint in OTHER_KINDS:
        return drop(NAME, f"{hint} notifications carry no push or build result")
    if hint == "repo_push" or (hint is None and "updated_tags" in data):
        return _push(data)
    if "build_id" in data:
        return _build(data, hint)
    return drop(NAME, f"{hint or 'the body'}: neither a repository push nor a build notification")


def _push(data: dict[str, Any]) -> list[Event]:
    image = text(data, "docker_url")
    updated = data.get("updated_tags")
    # 2013-2017: {"latest": "<v1 image id>"}; since: ["latest"]. A v1 id is no digest.
    tags = list(updated) if isinstance(updated, dict) else lst(updated)
    if len(tags) > MAX_EVENTS:
        raise WebhookRejected("too many tags in one delivery", status=400, reason="malformed")
    events: list[Event] = []
    for tag in tags:
        events += image_event(
            NAME, "image.pushed", image, tag=tag if isinstance(tag, str) else None
        )
    return events or drop(NAME, "repository push without updated tags")


def _build(data: dict[str, Any], hint: str | None) -> list[Event]:
    if hint in UNFINISHED_BUILDS:
        return drop(NAME, f"{hint}: the build has not finished")
    status, extra = _hints.outcome(_told_by_body(data), hint, AMBIGUOUS)
    if extra:
        extra["image"] = normal_name(text(data, "docker_url")) or ""
    trigger = obj(data, "trigger_metadata")
    return build_event(
        NAME,
        status,
        commit=first_text(text(trigger, "commit"), text(trigger, "commit_sha")),
        ref=branch_ref(text(trigger, "ref")),
        repository=repo_path(text(trigger, "git_url")),
        pipeline=text(data, "docker_url"),
        url=first_text(text(data, "homepage"), _build_page(data)),
        extra=extra,
    )


def _told_by_body(data: dict[str, Any]) -> BuildStatus | None:
    """What the legacy build manager's extra fields say; ``None`` from the current one."""
    if "error_message" in data:
        return "failure"
    if "manifest_digests" in data:  # not image_id: Quay's samples show it on queued builds too
        return "success"
    return None


def _build_page(data: dict[str, Any]) -> str | None:
    """``https://<host>/repository/<namespace>/<name>/build/<id>``, as Quay links builds."""
    image, build_id = text(data, "docker_url"), text(data, "build_id")
    if not image or not build_id or "/" not in image:
        return None
    host, _, path = image.partition("/")
    return f"https://{host}/repository/{path}/build/{build_id}"
