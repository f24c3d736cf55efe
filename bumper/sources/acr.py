"""Azure Container Registry webhooks (``push``, ``delete``).

ACR signs nothing and adds only the custom headers configured on the webhook. Secret: a header
credential (see ``bumper.sources._auth``): ``user:password`` for Basic, a bare token for
``Authorization: Bearer <token>``, or ``{"header": "X-Name", "value": "..."}``.

Mapping: ``push`` → ``image.pushed``, ``delete`` → ``image.deleted`` of
``<request.host>/<target.repository>`` (the registry host falls back to the web layer's
``X-Bumper-Registry``). Microsoft's examples mask digests with ``xxxx``: such digests are not
valid and become null. ``chart_push`` / ``chart_delete`` (legacy ACR Helm repositories, not
container images) and ``quarantine`` are ignored. The payload ``id`` is the delivery id.
"""

from __future__ import annotations

from bumper.core.events import Event
from bumper.sources import _auth
from bumper.sources._common import (
    capped_id,
    header,
    load_object,
    obj,
)
from bumper.sources._headers import Headers
from bumper.sources.distribution import parse_entry

NAME = "acr"
# Per tenant: a receiver names its login server with ``registry`` (or ``scope.images``).
REGISTRY_HOSTS: tuple[str, ...] = ()
REGISTRY_HEADER = "X-Bumper-Registry"


AUTH = _auth.HEADER_CREDENTIAL


def delivery_id(headers: Headers, body: bytes) -> str | None:
    return capped_id(load_object(body).get("id"))


def is_ping(headers: Headers, body: bytes) -> bool:
    # The portal's "Ping" action sends action "ping".
    return load_object(body).get("action") == "ping"


def parse(headers: Headers, body: bytes) -> list[Event]:
    entry = load_object(body)
    hint = header(headers, REGISTRY_HEADER)
    if hint and not obj(entry, "request").get("host"):
        entry = {**entry, "request": {**obj(entry, "request"), "host": hint}}
    return parse_entry(NAME, entry)
