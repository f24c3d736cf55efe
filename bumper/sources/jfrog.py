"""JFrog Artifactory webhooks: Docker tag pushed / deleted.

Secret: the webhook's "Secret Token", which Artifactory sends verbatim in
``X-JFrog-Event-Auth`` (a shared-token check; JFrog's newer payload signing is not used).

Both published shapes are accepted: the envelope ``{"domain", "event_type", "data",
"jpd_origin", ...}`` and the flat Docker-domain object. Docker ``pushed`` → ``image.pushed``,
``deleted`` → ``image.deleted`` of ``<host>/<repo_key>/<image_name>`` (Artifactory's
repository-path access method). The host is the receiver's configured registry (the web
layer's ``X-Bumper-Registry`` header); the payload's ``jpd_origin`` (the platform URL, which
the sender writes) is used only when none is configured, and then the receiver's scope
decides. Without either the event is dropped with a reason. The digest
is ``sha256:<sha256>`` (the checksum of the manifest file, which is the manifest digest).
Artifact-domain events (generic files) are ignored. JFrog sends no delivery id.
"""

from __future__ import annotations

from bumper.core.events import Event, ImageEventType
from bumper.sources import _auth
from bumper.sources._common import (
    drop,
    first_text,
    header,
    host_of,
    image_event,
    load_object,
    obj,
    text,
)
from bumper.sources._headers import Headers

NAME = "jfrog"
# Self-hosted or per tenant: a receiver names its Docker host with ``registry``.
REGISTRY_HOSTS: tuple[str, ...] = ()
REGISTRY_HEADER = "X-Bumper-Registry"
KINDS: dict[str, ImageEventType] = {"pushed": "image.pushed", "deleted": "image.deleted"}


AUTH = _auth.shared_token("X-JFrog-Event-Auth")


def parse(headers: Headers, body: bytes) -> list[Event]:
    payload = load_object(body)
    enveloped = isinstance(payload.get("data"), dict) and "domain" in payload
    domain = (text(payload, "domain") or ("docker" if "image_name" in payload else "")).lower()
    if domain != "docker":
        return drop(NAME, f"domain {domain!r} is not docker")
    data = obj(payload, "data") if enveloped else payload
    event_type = (text(payload, "event_type") or text(data, "event_type") or "").lower()
    kind = KINDS.get(event_type)
    if kind is None:
        return drop(NAME, f"docker event {event_type!r} is not pushed or deleted")
    # Configured identity first: a payload must not move the image to another registry.
    host = first_text(header(headers, REGISTRY_HEADER), host_of(text(payload, "jpd_origin")))
    if host is None or "<" in host:
        return drop(NAME, f"no registry host: set {REGISTRY_HEADER} or send jpd_origin")
    repo_key, image_name = text(data, "repo_key"), text(data, "image_name")
    if not (repo_key and image_name):
        return drop(NAME, "no repo_key or image_name")
    sha256 = text(data, "sha256")
    return image_event(
        NAME,
        kind,
        f"{host}/{repo_key}/{image_name}",
        tag=text(data, "tag"),
        digest=f"sha256:{sha256}" if sha256 else None,
    )
