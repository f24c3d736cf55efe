"""Authentication building blocks shared by the sender modules.

Every comparison of a presented credential with the secret is constant-time
(``hmac.compare_digest`` over bytes). Rejections carry a reason slug and a message that names
the header involved but never echoes the secret or what the client presented.

Status codes: 401 when the credential is missing, 403 when it is present but wrong (or stale).

Header credentials (``header_credential``) are configured with one secret string:

``user:password``
    HTTP Basic: ``Authorization: Basic base64(user:password)``.
``<token>`` (no ``:``)
    ``Authorization: Bearer <token>`` (the bare ``Authorization: <token>`` is accepted too).
``{"header": "X-Api-Key", "value": "<token>"}``
    A named header holding exactly the token (EventBridge API-key connections, custom headers).
    With ``"header": "Authorization"`` the value may also arrive as ``Bearer <token>``; use
    this form for a token that contains ``:``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass

from bumper.errors import ConfigError, WebhookRejected

URL_TOKEN_HEADER = "X-Bumper-Url-Token"


def require_secret(secret: str) -> str:
    if not isinstance(secret, str) or not secret:
        raise ConfigError("the receiver secret is empty", reason="secret")
    return secret


def same(presented: str | bytes, expected: str | bytes) -> bool:
    """Constant-time equality of two credentials (as UTF-8 bytes)."""
    a = presented.encode("utf-8", "surrogatepass") if isinstance(presented, str) else presented
    b = expected.encode("utf-8", "surrogatepass") if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def missing(what: str, reason: str = "missing-credential") -> WebhookRejected:
    return WebhookRejected(f"missing {what}", status=401, reason=reason)


def wrong(what: str, reason: str = "bad-credential") -> WebhookRejected:
    return WebhookRejected(f"{what} does not match", status=403, reason=reason)


def hmac_hex(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, algorithm)).hexdigest()


def check_hex_signature(
    presented: str | None,
    *,
    header: str,
    secret: str,
    body: bytes,
    algorithm: str = "sha256",
    prefix: str = "",
) -> None:
    """``presented`` must be ``prefix + hex(HMAC(secret, body))``; case of the hex ignored."""
    if not presented:
        raise missing(f"{header} signature header", "missing-signature")
    expected = prefix + hmac_hex(secret, body, algorithm)
    if not same(presented.strip().lower(), expected.lower()):
        raise wrong(f"{header} signature", "bad-signature")


def check_token(presented: str | None, *, header: str, secret: str) -> None:
    """A shared token sent back verbatim in ``header``."""
    if not presented:
        raise missing(f"{header} header", "missing-token")
    if not same(presented, secret):
        raise wrong(f"{header} token", "bad-token")


def check_url_token(headers: Mapping[str, str], secret: str) -> None:
    """The secret part of the receiver URL, passed by the web layer as ``X-Bumper-Url-Token``.

    Weaker than a signature: the token travels in every request URL (proxy and access logs)
    and does not bind the body. It is what Docker Hub, Quay and Tekton allow.
    """
    require_secret(secret)
    check_token(headers.get(URL_TOKEN_HEADER), header="URL token", secret=secret)


# ---------------------------------------------------------------------------------------------
# Header credentials: basic auth, bearer token or a named header


@dataclass(frozen=True)
class HeaderCredential:
    header: str
    value: str
    basic: tuple[str, str] | None = None


def header_credential(secret: str) -> HeaderCredential:
    """Read the secret spelling described in the module docstring."""
    require_secret(secret)
    if secret.lstrip().startswith("{"):
        try:
            spec = json.loads(secret)
        except ValueError:
            raise ConfigError("the receiver secret looks like JSON but is not valid JSON") from None
        name, value = (
            (spec.get("header"), spec.get("value")) if isinstance(spec, dict) else ("", "")
        )
        if not (isinstance(name, str) and name and isinstance(value, str) and value):
            raise ConfigError('a JSON receiver secret needs string "header" and "value" keys')
        if set(spec) - {"header", "value"}:
            raise ConfigError('a JSON receiver secret has only "header" and "value" keys')
        return HeaderCredential(header=name, value=value)
    if ":" in secret:
        user, _, password = secret.partition(":")
        return HeaderCredential(header="Authorization", value="", basic=(user, password))
    return HeaderCredential(header="Authorization", value=secret)


def check_header_credential(headers: Mapping[str, str], secret: str) -> None:
    credential = header_credential(secret)
    presented = headers.get(credential.header)
    if not presented:
        raise missing(f"{credential.header} header")
    if credential.basic is not None:
        _check_basic(presented, credential.basic)
    elif same(presented.strip(), credential.value):
        return
    elif credential.header.lower() == "authorization":
        check_bearer(presented, credential.value)
    else:
        raise wrong(f"{credential.header} header")


def check_bearer(presented: str, token: str) -> None:
    """``Authorization: Bearer <token>`` (scheme case-insensitive) or the bare token."""
    scheme, _, rest = presented.strip().partition(" ")
    candidate = rest.strip() if scheme.lower() == "bearer" else presented.strip()
    if not same(candidate, token):
        raise wrong("Authorization header", "bad-token")


def _check_basic(presented: str, expected: tuple[str, str]) -> None:
    scheme, _, encoded = presented.strip().partition(" ")
    if scheme.lower() != "basic":
        raise wrong("Authorization header (Basic expected)")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise wrong("Authorization header (Basic expected)") from None
    user, sep, password = decoded.partition(b":")
    # Compare both halves even when the first differs, so timing says nothing about which.
    user_ok = same(user, expected[0].encode("utf-8"))
    password_ok = same(password, expected[1].encode("utf-8"))
    if not (sep and user_ok and password_ok):
        raise wrong("Authorization header (Basic credentials)")


def basic_header(user: str, password: str) -> str:
    """The ``Authorization`` value for Basic credentials (used by tests and docs)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
