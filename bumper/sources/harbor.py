"""Harbor webhooks, in both the Default (``PUSH_ARTIFACT``) and the CloudEvents format.

Secret: the exact "Auth Header" string configured on the Harbor webhook policy, which Harbor
copies verbatim into ``Authorization`` (for example ``Bearer s3cr3t`` or ``Basic dXNlcjpw``).
A secret without a scheme (no space) also accepts ``Authorization: Bearer <secret>``. Harbor
signs nothing, so this is a shared-token check.

``PUSH_ARTIFACT`` / ``harbor.artifact.pushed`` (Harbor 1.x: ``pushImage``) → ``image.pushed``;
``DELETE_ARTIFACT`` / ``harbor.artifact.deleted`` (Harbor 1.x: ``deleteImage``) →
``image.deleted``; one event per ``event_data.resources[]`` (the same shape since 1.9),
named from ``resource_url`` (``harbor.example.com/project/repo:tag`` or ``...@digest``). A tag
equal to the digest (push by digest) is not a tag. Pulls, scans, quota and replication events
are ignored. The CloudEvents ``id`` is the delivery id, and its ``source`` and ``id`` the dedupe
key (the Default format has neither: the body's hash is the key).

Charts: ``UPLOAD_CHART`` (Harbor 1.x: ``uploadChart``), the legacy ChartMuseum chart
repository's upload, is a chart event (``artifact: chart``): one per resource, its version the
resource's ``tag``, its chart ``event_data.repository.name``, its repository the classic chart
repository named by ``resource_url`` (``https://harbor.example.com/chartrepo/<project>``,
what ``helm repo add`` is given), so the event's ``image`` is that repository's chart key
(``bumper.core.charts.key``). A ``resource_url`` of another shape drops the resource. Harbor's
``PUSH_ARTIFACT`` payload names no media type or artifact type (its resources carry only
``digest``, ``tag``, ``resource_url``), so a chart ``helm push``-ed to Harbor's OCI registry is
an image event; a chart rule on that repository still takes it (``worker.bump``).
"""

from __future__ import annotations

import re
from typing import Any

from bumper.core import charts
from bumper.core.events import Event, ImageEvent, ImageEventType
from bumper.errors import InvalidReference, WebhookRejected
from bumper.sources import _auth, _cloudevent
from bumper.sources._common import (
    MAX_EVENTS,
    capped_id,
    drop,
    image_event,
    lst,
    obj,
    split_reference,
    text,
)
from bumper.sources._headers import Headers

NAME = "harbor"
# Self-hosted: a receiver names its Harbor host with ``registry`` (or ``scope.images``).
REGISTRY_HOSTS: tuple[str, ...] = ()

KINDS: dict[str, ImageEventType] = {
    "PUSH_ARTIFACT": "image.pushed",
    "DELETE_ARTIFACT": "image.deleted",
    "harbor.artifact.pushed": "image.pushed",
    "harbor.artifact.deleted": "image.deleted",
    # Harbor 1.9 and 1.10 (before artifacts): images only; charts were uploadChart/deleteChart.
    "pushImage": "image.pushed",
    "deleteImage": "image.deleted",
}
CHART_UPLOADS = frozenset({"UPLOAD_CHART", "uploadChart"})
# <external URL>/chartrepo/<project>/charts/<chart>-<version>.tgz (Harbor's chart handler)
_CHART_URL = re.compile(
    r"(https?://[^/\s?#]+(?:/[^\s?#]*)?/chartrepo/[^/\s?#]+)/charts/[^/\s?#]+\.tgz"
)


def _check(headers: Headers, body: bytes, secret: str) -> None:
    presented = headers.get("Authorization")
    if not presented:
        raise _auth.missing("Authorization header")
    if _auth.same(presented.strip(), secret.strip()):
        return
    if " " not in secret.strip():
        _auth.check_bearer(presented, secret.strip())
        return
    raise _auth.wrong("Authorization header")


def _material(secret: str) -> str:
    """The credential after the scheme word (``Bearer <token>``), or the whole bare token."""
    scheme, _, credential = secret.strip().partition(" ")
    return credential.strip() or scheme


AUTH = _auth.Scheme("harbor-auth-header", _check, material=_material)


def delivery_id(headers: Headers, body: bytes) -> str | None:
    event = _cloudevent.read(headers, body)
    return capped_id(event.id) if event else None


def dedupe_key(headers: Headers, body: bytes) -> str | None:
    """The CloudEvents format's ``source`` and ``id`` (the Default format has neither)."""
    return _cloudevent.identity(_cloudevent.read(headers, body))


def parse(headers: Headers, body: bytes) -> list[Event]:
    event = _cloudevent.read(headers, body, require=False)
    if event is not None:
        return parse_data(NAME, event.type, event.data)
    data = _cloudevent.body_object(body)
    return parse_data(NAME, text(data, "type"), data.get("event_data"))


def parse_data(sender: str, event_type: str | None, data: Any) -> list[Event]:
    """Shared with the generic CloudEvents sender (Harbor's ``harbor.*`` types)."""
    if event_type in CHART_UPLOADS:
        return _chart_uploads(sender, obj(data))
    kind = KINDS.get(event_type or "")
    if kind is None:
        return drop(sender, f"Harbor event {event_type!r} is not an artifact push or delete")
    resources = lst(obj(data).get("resources"))
    if len(resources) > MAX_EVENTS:
        raise WebhookRejected("too many resources in one delivery", status=400, reason="malformed")
    events: list[Event] = []
    for resource in resources:
        url = text(resource, "resource_url")
        name, url_tag, url_digest = split_reference(url) if url else (None, None, None)
        tag = text(resource, "tag") or url_tag
        digest = text(resource, "digest") or url_digest
        events += image_event(sender, kind, name, tag=tag, digest=digest)
    if not resources:
        return drop(sender, f"Harbor {event_type} without resources")
    return events


def _chart_uploads(sender: str, data: dict[str, Any]) -> list[Event]:
    """One chart event per uploaded version (see the module docstring)."""
    resources = lst(data.get("resources"))
    if len(resources) > MAX_EVENTS:
        raise WebhookRejected("too many resources in one delivery", status=400, reason="malformed")
    chart = text(obj(data.get("repository")), "name") or ""
    events: list[Event] = []
    for resource in resources:
        found = _CHART_URL.fullmatch(text(resource, "resource_url") or "")
        version = text(resource, "tag") or ""
        try:
            name, good = charts.validate_name(chart), charts.validate_version(version)
        except InvalidReference as error:
            events += drop(sender, f"UPLOAD_CHART: {error}")
            continue
        if found is None:
            events += drop(sender, f"UPLOAD_CHART {name}: resource_url is not a chartrepo URL")
            continue
        repository = charts.normalize_repository(found.group(1))
        events.append(
            ImageEvent(
                type="image.pushed",
                image=charts.key(repository, name),
                tag=good,
                source=sender,
                artifact="chart",
            )
        )
    if not resources:
        return drop(sender, "UPLOAD_CHART without resources")
    return events
