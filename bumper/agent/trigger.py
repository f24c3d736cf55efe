"""Verify a Git push webhook (GitHub or GitLab) and say whether it concerns our branch. Pure.

GitHub signs the body: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``.
GitLab sends the shared secret itself in ``X-Gitlab-Token``. Both are compared with
``hmac.compare_digest``. Refusals are ``WebhookRejected`` with the receivers' statuses
(``docs/errors.md``): 401 when neither header is there or it is empty, 403 when the signature
or token is wrong, 400 for a body that is not JSON, 413 for one too large. ``ping`` events and
pushes to other branches are accepted and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from bumper.errors import WebhookRejected

MAX_BODY = 1_048_576


@dataclass(frozen=True)
class Push:
    provider: str
    ref: str | None
    after: str | None
    relevant: bool


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def verify(headers: Mapping[str, str], body: bytes, secret: str, *, branch: str) -> Push:
    """Authenticate the delivery, then parse it; raises ``WebhookRejected`` on any doubt."""
    if len(body) > MAX_BODY:
        raise WebhookRejected("body too large", status=413, reason="too-large")
    signature = _header(headers, "X-Hub-Signature-256")
    token = _header(headers, "X-Gitlab-Token")
    if signature:
        want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.strip().encode(), want.encode()):
            raise WebhookRejected("signature mismatch", status=403, reason="bad-signature")
        provider, event = "github", _header(headers, "X-GitHub-Event") or ""
    elif token:
        if not hmac.compare_digest(token.encode(), secret.encode()):
            raise WebhookRejected("token mismatch", status=403, reason="bad-token")
        provider, event = "gitlab", _header(headers, "X-Gitlab-Event") or ""
    else:
        raise WebhookRejected(
            "no X-Hub-Signature-256 or X-Gitlab-Token", status=401, reason="missing-credential"
        )
    try:
        payload = json.loads(body or b"{}")
    except ValueError as error:
        raise WebhookRejected("body is not JSON", status=400, reason="malformed") from error
    if not isinstance(payload, dict):
        raise WebhookRejected("body is not a JSON object", status=400, reason="malformed")
    if event.lower() not in ("push", "push hook"):
        return Push(provider, None, None, relevant=False)
    ref = payload.get("ref")
    after = payload.get("after")
    return Push(
        provider,
        ref if isinstance(ref, str) else None,
        after if isinstance(after, str) else None,
        relevant=ref == f"refs/heads/{branch}",
    )
