"""Gitea and Forgejo webhooks: container ``package`` events and Actions results.

Secret: the webhook secret. ``X-Gitea-Signature`` (or ``X-Forgejo-Signature`` /
``X-Gogs-Signature``) must be the hex HMAC-SHA256 of the raw body; GitHub-style
``X-Hub-Signature-256: sha256=<hex>`` is accepted as well.

Mapping: ``package`` events of type ``container``: ``created`` → ``image.pushed``,
``deleted`` → ``image.deleted`` of ``<host of package.html_url>/<owner>/<name>`` (Gitea serves
its registry on its own host), lower-cased; ``version`` is the tag, or the digest when it is
``sha256:...``. ``workflow_run`` / ``workflow_job`` (Gitea Actions, GitHub-compatible shapes)
→ ``build.finished`` as for GitHub. Pushes and other events are ignored. The delivery id shown
is ``X-Gitea-Delivery`` (or the Forgejo/Gogs alias); deduplication is on the signed body and
the event name, since that header is not signed.
"""

from __future__ import annotations

from typing import Any

from bumper.core.events import Event, ImageEventType
from bumper.sources import _auth, github
from bumper.sources._common import (
    capped_id,
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

NAME = "gitea"
# Self-hosted: a receiver names its Gitea host with ``registry`` (or ``scope.images``).
REGISTRY_HOSTS: tuple[str, ...] = ()
PREFIXES = ("X-Gitea-", "X-Forgejo-", "X-Gogs-")
ACTIONS: dict[str, ImageEventType] = {"created": "image.pushed", "deleted": "image.deleted"}


def _check(headers: Headers, body: bytes, secret: str) -> _auth.Signed:
    plain = _first(headers, "Signature")
    if plain is not None:
        _auth.check_hex_signature(plain, header="X-Gitea-Signature", secret=secret, body=body)
    else:
        _auth.check_hex_signature(
            headers.get("X-Hub-Signature-256"),
            header="X-Gitea-Signature",
            secret=secret,
            body=body,
            prefix="sha256=",
        )
    return _auth.signed_body(body, _first(headers, "Event"))


AUTH = _auth.Scheme("gitea-signature", _check)


def _first(headers: Headers, suffix: str) -> str | None:
    return first_text(*(header(headers, prefix + suffix) for prefix in PREFIXES))


def delivery_id(headers: Headers, body: bytes) -> str | None:
    return capped_id(_first(headers, "Delivery"))


def parse(headers: Headers, body: bytes) -> list[Event]:
    data = load_object(body)
    event = (_first(headers, "Event") or _guess(data)).lower()
    if event == "package":
        return _package(data)
    if event in ("workflow_run", "workflow_job"):
        return github.parse_build(NAME, event, data)
    return drop(NAME, f"event {event!r} carries no image or build result")


def _guess(data: dict[str, Any]) -> str:
    for key in ("workflow_job", "workflow_run", "package"):
        if isinstance(data.get(key), dict):
            return key
    return "unknown"


def _package(data: dict[str, Any]) -> list[Event]:
    package = obj(data, "package")
    if (text(package, "type") or "").lower() != "container":
        return drop(NAME, f"package type {text(package, 'type')!r} is not container")
    action = (text(data, "action") or "").lower()
    kind = ACTIONS.get(action)
    if kind is None:
        return drop(NAME, f"package action {action!r} is not created or deleted")
    host = host_of(text(package, "html_url"))
    owner, name = text(package, "owner", "login"), text(package, "name")
    if not (host and owner and name):
        return drop(NAME, "package without html_url host, owner or name")
    version = text(package, "version")
    return image_event(NAME, kind, f"{host}/{owner}/{name}".lower(), tag=version)
