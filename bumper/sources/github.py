"""GitHub webhooks: GHCR pushes (``package``, ``registry_package``) and CI results
(``workflow_run``, ``workflow_job``, ``check_suite``).

Secret: the webhook secret. ``X-Hub-Signature-256`` must be ``sha256=`` + hex HMAC-SHA256 of
the raw body; the legacy SHA-1 header is ignored. ``X-GitHub-Event`` selects the parser;
``X-GitHub-Delivery`` is the delivery id shown; deliveries are deduplicated on the signed body
and the event name, since the delivery id header is not signed; ``ping`` deliveries are pings.

Mapping:

- ``package`` / ``registry_package`` with a container package (``package_type`` or
  ``registry.type`` says container/docker; npm and friends are ignored), action ``published``
  or ``updated`` → ``image.pushed``, ``deleted`` → ``image.deleted``. The image comes from
  ``package_url`` (``ghcr.io/Owner/name:tag``), lower-cased as GHCR requires; the digest from
  ``package_version.version`` (GHCR puts the manifest digest there) or
  ``container_metadata.tag.digest``; the tag from ``container_metadata.tag.name``.
- ``workflow_run`` / ``workflow_job`` / ``check_suite`` with action ``completed`` →
  ``build.finished``; other actions (``requested``, ``in_progress``) are ignored. Conclusions:
  success and neutral → success; failure, timed_out, startup_failure → failure; cancelled →
  cancelled; skipped → skipped; anything else (action_required, stale) → unknown. For
  ``workflow_job`` the pipeline is the workflow name and ``extra.job`` the job name.
"""

from __future__ import annotations

from typing import Any

from bumper.core.events import BuildStatus, Event, ImageEventType
from bumper.sources import _auth
from bumper.sources._common import (
    branch_ref,
    build_event,
    capped_id,
    drop,
    first_text,
    header,
    image_event,
    load_object,
    obj,
    split_reference,
    text,
)
from bumper.sources._headers import Headers

NAME = "github"
REGISTRY_HOSTS: tuple[str, ...] = ("ghcr.io",)

CONCLUSIONS: dict[str, BuildStatus] = {
    "success": "success",
    "neutral": "success",
    "failure": "failure",
    "timed_out": "failure",
    "startup_failure": "failure",
    "cancelled": "cancelled",
    "skipped": "skipped",
}
_CONTAINER_TYPES = frozenset({"container", "docker"})


AUTH = _auth.hmac_signature("X-Hub-Signature-256", prefix="sha256=", event_header="X-GitHub-Event")


def delivery_id(headers: Headers, body: bytes) -> str | None:
    return capped_id(headers.get("X-GitHub-Delivery"))


def is_ping(headers: Headers, body: bytes) -> bool:
    return (header(headers, "X-GitHub-Event") or "").lower() == "ping"


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    event = (header(headers, "X-GitHub-Event") or _guess_event(data)).lower()
    if event in ("package", "registry_package"):
        return parse_package(NAME, data, data.get(event) or data.get("package"))
    if event in ("workflow_run", "workflow_job", "check_suite"):
        return parse_build(NAME, event, data)
    return drop(NAME, f"event {event!r} carries no image or build result")


def _guess_event(data: dict[str, Any]) -> str:
    """Without ``X-GitHub-Event`` (``explain-webhook`` on a saved body), infer it from keys."""
    for key in ("workflow_job", "workflow_run", "check_suite", "registry_package", "package"):
        if isinstance(data.get(key), dict):
            return key
    return "unknown"


def parse_package(sender: str, data: dict[str, Any], package: Any) -> list[Event]:
    """Shared with Gitea's GitHub-compatible deliveries."""
    package = obj(package)
    kinds = {
        (text(package, "package_type") or "").lower(),
        (text(package, "registry", "type") or "").lower(),
    }
    if not kinds & _CONTAINER_TYPES:
        return drop(sender, f"package of type {sorted(kinds - {''})} is not a container image")
    action = (text(data, "action") or "").lower()
    if action in ("published", "updated", "created"):
        kind: ImageEventType = "image.pushed"
    elif action == "deleted":
        kind = "image.deleted"
    else:
        return drop(sender, f"package action {action!r} is not a push or delete")
    version = obj(package, "package_version")
    meta = obj(version, "container_metadata")
    url_name, url_tag, _ = split_reference(text(version, "package_url") or "")
    name = url_name or _name_from_parts(package)
    if name:
        name = name.lower()
    digest = first_text(_digest(text(version, "version")), _digest(text(meta, "tag", "digest")))
    tag = first_text(text(meta, "tag", "name"), url_tag)
    return image_event(sender, kind, name, tag=tag, digest=digest)


def _name_from_parts(package: dict[str, Any]) -> str | None:
    owner, name = text(package, "owner", "login"), text(package, "name")
    return f"ghcr.io/{owner}/{name}" if owner and name else None


def _digest(value: str | None) -> str | None:
    return value if value and value.startswith("sha256:") else None


def parse_build(sender: str, event: str, data: dict[str, Any]) -> list[Event]:
    """Shared with Gitea Actions, which sends the same shapes."""
    if (text(data, "action") or "").lower() != "completed":
        return drop(sender, f"{event} action {text(data, 'action')!r} is not 'completed'")
    run = obj(data, event)
    conclusion = (text(run, "conclusion") or "").lower()
    status: BuildStatus = CONCLUSIONS.get(conclusion, "unknown")
    repository = text(data, "repository", "full_name")
    extra: dict[str, Any] = {}
    if event == "workflow_run":
        pipeline = first_text(text(run, "name"), text(data, "workflow", "name"))
    elif event == "workflow_job":
        pipeline = text(run, "workflow_name")
        if job := text(run, "name"):
            extra["job"] = job
    else:
        pipeline = text(run, "app", "name")
    return build_event(
        sender,
        status,
        commit=text(run, "head_sha"),
        ref=branch_ref(text(run, "head_branch")),
        repository=repository,
        pipeline=pipeline,
        url=text(run, "html_url"),
        extra=extra,
    )
