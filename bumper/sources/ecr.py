"""Amazon ECR image actions, delivered by an EventBridge rule to an API destination.

ECR itself calls no webhook; the EventBridge connection supplies the authentication. Secret:
a header credential (see ``bumper.sources._auth``): ``user:password`` for a Basic connection,
``{"header": "X-Api-Key", "value": "..."}`` for an API-key connection, or a bare token for
``Authorization: Bearer <token>``. No payload signature exists.

Mapping: ``detail-type: ECR Image Action`` with ``result: SUCCESS``; ``action-type`` PUSH →
``image.pushed``, DELETE → ``image.deleted`` of
``<account>.dkr.ecr.<region>.amazonaws.com/<repository-name>`` (``.amazonaws.com.cn`` in China
regions). Events since the EventBridge schema's
``artifact-media-type`` / ``manifest-media-type`` fields name the config's media type: a
Helm chart's makes a chart push (``artifact: chart``); the 2019 shape without them is an image.
Scans, failed actions and other detail types are ignored. The EventBridge ``id`` is the delivery id.
"""

from __future__ import annotations

import re

from bumper.core.events import Event, ImageEventType
from bumper.sources import _auth
from bumper.sources._common import (
    artifact_of,
    capped_id,
    drop,
    image_event,
    load_object,
    obj,
    text,
)
from bumper.sources._headers import Headers

NAME = "ecr"
# Per account: a receiver names ``<account>.dkr.ecr.<region>.amazonaws.com`` with ``registry``.
REGISTRY_HOSTS: tuple[str, ...] = ()
ACTIONS: dict[str, ImageEventType] = {"PUSH": "image.pushed", "DELETE": "image.deleted"}
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")


AUTH = _auth.HEADER_CREDENTIAL


def delivery_id(headers: Headers, body: bytes) -> str | None:
    return capped_id(load_object(body).get("id"))


def parse(headers: Headers, body: bytes) -> list[Event]:
    event = load_object(body)
    detail_type = text(event, "detail-type")
    if detail_type != "ECR Image Action":
        return drop(NAME, f"detail-type {detail_type!r} is not 'ECR Image Action'")
    detail = obj(event, "detail")
    if text(detail, "result") != "SUCCESS":
        return drop(NAME, f"image action result {text(detail, 'result')!r}")
    action = (text(detail, "action-type") or "").upper()
    kind = ACTIONS.get(action)
    if kind is None:
        return drop(NAME, f"action-type {action!r} is not PUSH or DELETE")
    account, region = text(event, "account"), text(event, "region")
    repository = text(detail, "repository-name")
    if not (account and _ACCOUNT.fullmatch(account) and region and _REGION.fullmatch(region)):
        return drop(NAME, "no valid account and region to name the registry")
    if not repository:
        return drop(NAME, "no repository-name")
    # AWS China regions live under amazonaws.com.cn.
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return image_event(
        NAME,
        kind,
        f"{account}.dkr.ecr.{region}.{domain}/{repository}",
        tag=text(detail, "image-tag"),
        digest=text(detail, "image-digest"),
        # Newer events name the config's media type: a Helm chart's says it is a chart push.
        artifact=artifact_of(text(detail, "artifact-media-type")),
    )
