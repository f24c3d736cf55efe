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

from collections.abc import Mapping

from bumper.core.events import Event
from bumper.sources import Headers, _auth
from bumper.sources._common import (
    capped_id,
    guard,
    header,
    load_object,
    obj,
    safe_bool,
    safe_id,
)
from bumper.sources.distribution import parse_entry

NAME = "acr"
REGISTRY_HEADER = "X-Bumper-Registry"


def check_secret(secret: str) -> None:
    _auth.header_credential(secret)


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    _auth.check_header_credential(Headers.of(headers), secret)


@safe_id
def delivery_id(headers: Mapping[str, str], body: bytes) -> str | None:
    return capped_id(load_object(body).get("id"))


@safe_bool
def is_ping(headers: Mapping[str, str], body: bytes) -> bool:
    # The portal's "Ping" action sends action "ping".
    return load_object(body).get("action") == "ping"


@guard(NAME)
def parse(headers: Mapping[str, str], body: bytes) -> list[Event]:
    entry = load_object(body)
    hint = header(Headers.of(headers), REGISTRY_HEADER)
    if hint and not obj(entry, "request").get("host"):
        entry = {**entry, "request": {**obj(entry, "request"), "host": hint}}
    return parse_entry(NAME, entry)
