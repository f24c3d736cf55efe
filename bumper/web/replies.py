"""JSON replies of the web process: ``{"error": reason, "message": ...}`` for every error."""

from __future__ import annotations

from typing import Any

from flask import Response

from bumper.logs import compact_json

# One encoder for every reply: ``json.dumps`` with options builds a new one per call.
_dumps = compact_json()


def reply_body(payload: dict[str, Any]) -> bytes:
    # The standard library encoder: Flask's provider adds nothing here and costs more.
    return _dumps(payload).encode()


def json_reply(status: int, payload: dict[str, Any], **headers: str) -> Response:
    body = reply_body(payload)
    response = Response(body, status=status, mimetype="application/json")
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def error_reply(status: int, reason: str, message: str, **headers: str) -> Response:
    return json_reply(status, {"error": reason, "message": message}, **headers)
