"""Sonatype Nexus Repository webhooks (``rm:repository:component`` and ``...:asset``).

Secret: the webhook capability's secret key. ``X-Nexus-Webhook-Signature`` must be the hex
HMAC-SHA1 of the raw body (Nexus sends compact JSON and signs it as sent).

Mapping: Docker components (``component.format`` docker, ``name`` the image, ``version`` the
tag) CREATED/UPDATED → ``image.pushed``, DELETED → ``image.deleted``; Docker manifest assets
(``asset.name`` ``v2/<image>/manifests/<tag or digest>``) likewise. Other formats (npm,
maven...) and blob assets are ignored. Nexus payloads do not name the registry host, so the
image is qualified with the web layer's ``X-Bumper-Registry`` header (the host and port of
the Docker connector); without it the event is dropped with a reason. The delivery id shown
is ``X-Nexus-Webhook-Delivery``; deduplication is on the signed body and the event name
(``X-Nexus-Webhook-Id``), since that header is not signed.
"""

from __future__ import annotations

from typing import Any

from bumper.core.events import Event, ImageEventType
from bumper.sources import _auth
from bumper.sources._common import (
    capped_id,
    drop,
    header,
    image_event,
    load_object,
    text,
)
from bumper.sources._headers import Headers

NAME = "nexus"
# Self-hosted: a receiver names its Docker connector's host with ``registry``.
REGISTRY_HOSTS: tuple[str, ...] = ()
REGISTRY_HEADER = "X-Bumper-Registry"
ACTIONS: dict[str, ImageEventType] = {
    "CREATED": "image.pushed",
    "UPDATED": "image.pushed",
    "DELETED": "image.deleted",
}


AUTH = _auth.hmac_signature(
    "X-Nexus-Webhook-Signature", algorithm="sha1", event_header="X-Nexus-Webhook-Id"
)


def delivery_id(headers: Headers, body: bytes) -> str | None:
    return capped_id(headers.get("X-Nexus-Webhook-Delivery"))


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    action = (text(data, "action") or "").upper()
    kind = ACTIONS.get(action)
    if kind is None:
        return drop(NAME, f"action {action!r} is not CREATED, UPDATED or DELETED")
    if isinstance(data.get("component"), dict):
        name, tag, digest = _component(data["component"])
    elif isinstance(data.get("asset"), dict):
        name, tag, digest = _asset(data["asset"])
    else:
        return drop(NAME, "neither a component nor an asset")
    if name is None:
        return drop(NAME, "not a Docker image manifest")
    host = header(headers, REGISTRY_HEADER)
    if host is None:
        return drop(NAME, f"no registry host: set {REGISTRY_HEADER} for this receiver")
    return image_event(NAME, kind, f"{host}/{name}", tag=tag, digest=digest)


def _component(component: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    if (text(component, "format") or "").lower() != "docker":
        return None, None, None
    version = text(component, "version")
    if version and version.startswith("sha256:"):
        return text(component, "name"), None, version
    return text(component, "name"), version, None


def _asset(asset: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    if (text(asset, "format") or "").lower() != "docker":
        return None, None, None
    path = (text(asset, "name") or "").removeprefix("/")
    prefix, _, rest = path.partition("/")
    name, sep, reference = rest.rpartition("/manifests/")
    if prefix != "v2" or not sep or not name or not reference:
        return None, None, None
    if reference.startswith("sha256:"):
        return name, None, reference
    return name, reference, None
