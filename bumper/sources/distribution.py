"""CNCF Distribution (``registry:2``) notification envelopes.

Secret: a header credential, as configured in the registry's ``notifications.endpoints[].headers``
(see ``bumper.sources._auth``): ``user:password`` for Basic, a bare token for
``Authorization: Bearer <token>``, or ``{"header": "X-Name", "value": "..."}``.

Mapping: only manifest events count. ``push`` of a manifest → ``image.pushed``, ``delete`` →
``image.deleted``; layer and config blob events and pulls are ignored. A target is a manifest
when its media type is a manifest or index type, or its URL is ``/v2/<name>/manifests/...``; a
``delete`` with neither (how the registry reports manifest and tag deletions) counts too. The
registry host is ``request.host`` (the registry's external name), else the host of
``target.url``. The tag is ``target.tag`` (registry 2.4+), else (registry 2.0) the tag the
manifest URL names; registry 2.1 to 2.3 sent none, only the digest. A manifest whose
``artifactType`` or referenced config/layers (the registry's ``events.includereferences``)
have a Helm chart media type is a chart push (``artifact: chart``). The delivery id is the ids
of the envelope's events joined with ``,``.
"""

from __future__ import annotations

from typing import Any

from bumper.core.events import Event, ImageEventType
from bumper.errors import WebhookRejected
from bumper.sources import _auth
from bumper.sources._common import (
    MAX_EVENTS,
    artifact_of,
    capped_id,
    drop,
    first_text,
    host_of,
    image_event,
    load_object,
    lst,
    obj,
    text,
)
from bumper.sources._headers import Headers

NAME = "distribution"
# Self-hosted: a receiver names its registry host with ``registry`` (or ``scope.images``).
REGISTRY_HOSTS: tuple[str, ...] = ()

MANIFEST_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    }
)
ACTIONS: dict[str, ImageEventType] = {"push": "image.pushed", "delete": "image.deleted"}


AUTH = _auth.HEADER_CREDENTIAL


def delivery_id(headers: Headers, body: bytes) -> str | None:
    ids = [text(event, "id") for event in lst(load_object(body).get("events"))]
    return capped_id(",".join(i for i in ids if i)) if ids and all(ids) else None


def parse(headers: Headers, body: bytes) -> list[Event]:
    envelope = load_object(body)
    if not isinstance(envelope.get("events"), list):
        raise WebhookRejected("envelope has no 'events' list", status=400, reason="malformed")
    entries = envelope["events"]
    if len(entries) > MAX_EVENTS:
        raise WebhookRejected("too many events in one envelope", status=400, reason="malformed")
    events: list[Event] = []
    for entry in entries:
        events += parse_entry(NAME, obj(entry))
    return events


def parse_entry(sender: str, entry: dict[str, Any]) -> list[Event]:
    """One notification event; shared with ACR, whose payload is a single such event."""
    action = (text(entry, "action") or "").lower()
    kind = ACTIONS.get(action)
    if kind is None:
        return drop(sender, f"action {action!r} is not a push or delete")
    target = obj(entry, "target")
    if not is_manifest(target, deleting=action == "delete"):
        return drop(
            sender,
            f"{action} of a blob ({text(target, 'mediaType')}), not a manifest",
            routine=True,
        )
    host = first_text(text(entry, "request", "host"), host_of(text(target, "url")))
    repository = text(target, "repository")
    if not (host and repository):
        return drop(sender, f"{action} without a registry host or repository")
    return image_event(
        sender,
        kind,
        f"{host}/{repository}",
        tag=first_text(text(target, "tag"), _tag_in_url(target, repository)),
        digest=text(target, "digest"),
        artifact=artifact_of(*_media_types(target)),
    )


def _tag_in_url(target: dict[str, Any], repository: str) -> str | None:
    """Registry 2.0 named the pushed tag only in the URL (``/v2/<name>/manifests/<tag>``); 2.1
    to 2.3 put the digest there and sent no tag at all; 2.4 added ``target.tag``."""
    path = (text(target, "url") or "").partition("?")[0]
    _, found, reference = path.rpartition(f"/v2/{repository}/manifests/")
    return reference if found and reference and ":" not in reference else None


def _media_types(target: dict[str, Any]) -> list[str | None]:
    """The media types a manifest event tells: the target's own and artifact type, and with
    ``events.includereferences`` its config and layers (a Helm chart's say so)."""
    found = [text(target, "mediaType"), text(target, "artifactType")]
    found += [text(obj(ref), "mediaType") for ref in lst(target.get("references"))[:MAX_EVENTS]]
    return found


def is_manifest(target: dict[str, Any], *, deleting: bool = False) -> bool:
    media_type = (text(target, "mediaType") or "").lower()
    if media_type in MANIFEST_TYPES:
        return True
    url = text(target, "url")
    if media_type or url:
        return not media_type and url is not None and "/manifests/" in url
    # The registry describes deleted manifests and tags only by repository + digest or tag.
    return deleting
