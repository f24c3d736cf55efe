"""Reading a CloudEvent (v1.0) from an HTTP request, in structured or binary content mode.

Structured mode: the body is the whole event as JSON (``Content-Type:
application/cloudevents+json``, or any JSON object with string ``specversion`` and ``type``).
Binary mode: the attributes are ``ce-*`` headers and the body is the data. Used by the
cloudevents, cdevents, tekton and harbor senders. Pure; raises only ``WebhookRejected``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bumper.errors import WebhookRejected
from bumper.sources._common import header, load_json, load_object, text

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


@dataclass(frozen=True)
class CloudEvent:
    type: str
    id: str | None
    source: str | None
    subject: str | None
    data: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    binary: bool = False


def identity(event: CloudEvent | None) -> str | None:
    """The event's identity for deduplication: ``source`` and ``id`` together (the spec makes
    only the pair unique: two sources may use the same ``id``); ``None`` without an ``id``."""
    if event is None or not event.id:
        return None
    return json.dumps([event.source or "", event.id])


def is_binary(headers: Mapping[str, str]) -> bool:
    return header(headers, "ce-specversion") is not None


def read(headers: Mapping[str, str], body: bytes, *, require: bool = True) -> CloudEvent | None:
    """The event in this request; ``None`` (or 400 when ``require``) if it is not one."""
    content_type = (header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if content_type == BATCH:
        raise WebhookRejected(
            "CloudEvents batch mode is not supported; send one event per request",
            status=400,
            reason="malformed",
        )
    if is_binary(headers):
        return _binary(headers, body)
    data = load_json(body)
    if isinstance(data, dict) and isinstance(data.get("specversion"), str):
        return _structured(data)
    if content_type == STRUCTURED:
        raise WebhookRejected("CloudEvent without specversion", status=400, reason="malformed")
    if require:
        raise WebhookRejected(
            "not a CloudEvent: no ce-specversion header and no specversion in the body",
            status=400,
            reason="malformed",
        )
    return None


def body_object(body: bytes) -> dict[str, Any]:
    return load_object(body)


def _binary(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    event_type = header(headers, "ce-type")
    if event_type is None:
        raise WebhookRejected("binary CloudEvent without ce-type", status=400, reason="malformed")
    attributes = {
        name.lower()[3:]: value
        for name, value in headers.items()
        if name.lower().startswith("ce-") and isinstance(value, str)
    }
    data = load_json(body) if body.strip() else None
    return CloudEvent(
        type=event_type,
        id=header(headers, "ce-id"),
        source=header(headers, "ce-source"),
        subject=header(headers, "ce-subject"),
        data=data,
        attributes=attributes,
        binary=True,
    )


def _structured(event: dict[str, Any]) -> CloudEvent:
    event_type = text(event, "type")
    if event_type is None:
        raise WebhookRejected("CloudEvent without a type", status=400, reason="malformed")
    data = event.get("data")
    if data is None and isinstance(event.get("data_base64"), str):
        data = _decode_base64_json(event["data_base64"])
    elif isinstance(data, str) and "json" in (text(event, "datacontenttype") or ""):
        # Some senders double-encode JSON data as a string.
        data = _maybe_json(data)
    return CloudEvent(
        type=event_type,
        id=text(event, "id"),
        source=text(event, "source"),
        subject=text(event, "subject"),
        data=data,
        attributes={k: v for k, v in event.items() if k not in ("data", "data_base64")},
    )


def _decode_base64_json(encoded: str) -> Any:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected("data_base64 is not base64", status=400, reason="malformed") from None
    return _maybe_json(raw)


def _maybe_json(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeError, RecursionError):
        return raw
