"""Google Artifact Registry / Container Registry notifications via a Pub/Sub push subscription.

The registry publishes to the ``gcr`` topic; a push subscription POSTs
``{"message": {"data": <base64 JSON>, "messageId": ...}, "subscription": ...}``. The decoded
data is ``{"action": "INSERT"|"DELETE", "digest": "<name>@sha256:...", "tag": "<name>:<tag>"}``.
The bare data object (as in Google's docs) is accepted too.

Secret: a JSON object describing the authenticated-push OIDC token Pub/Sub sends as
``Authorization: Bearer <JWT>``::

    {"audience": "https://bumper.example.com/hooks/gar",
     "email": "pubsub-push@my-project.iam.gserviceaccount.com",
     "keys": {"keys": [<JWK>, ...]}}

``keys`` holds the signing keys to trust: a JWKS (Google's
``https://www.googleapis.com/oauth2/v3/certs``), an object ``kid → PEM`` (public key or X.509
certificate, the ``v1/certs`` format) or a list of PEMs. Bumper does not fetch them itself (no
I/O here): refresh the secret when Google rotates its keys. ``issuers`` (optional) defaults to
Google's ``https://accounts.google.com`` and ``accounts.google.com``. The token must be RS256,
signed by one of the keys, unexpired, with ``aud`` = audience, ``iss`` in issuers, ``email`` =
email and ``email_verified`` not false.

Mapping: INSERT → ``image.pushed``, DELETE → ``image.deleted``, with the name, tag and digest
split from ``tag`` and ``digest``. Google's examples truncate digests with ``...``: such a
digest is null, and an event left with neither tag nor digest is dropped. Messages whose data
is not a registry notification are ignored (``[]``), not refused, so Pub/Sub does not retry
them forever. The delivery id is ``message.messageId``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass
from typing import Any

from bumper.core.events import Event, ImageEventType
from bumper.errors import ConfigError, WebhookRejected
from bumper.sources import _auth
from bumper.sources._common import (
    capped_id,
    drop,
    first_text,
    image_event,
    load_object,
    obj,
    split_reference,
    text,
)
from bumper.sources._headers import Headers

NAME = "gar"
# Artifact Registry and Container Registry hosts; ``registry`` narrows it to one.
REGISTRY_HOSTS: tuple[str, ...] = ("*-docker.pkg.dev", "gcr.io", "*.gcr.io")
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
ACTIONS: dict[str, ImageEventType] = {"INSERT": "image.pushed", "DELETE": "image.deleted"}
LEEWAY = 30


@dataclass(frozen=True)
class TokenPolicy:
    audience: str
    email: str
    issuers: tuple[str, ...]
    keys: tuple[tuple[str | None, Any], ...]


@functools.lru_cache(maxsize=16)
def _policy(secret: str) -> TokenPolicy:
    _auth.require_secret(secret)
    try:
        spec = json.loads(secret)
    except ValueError:
        raise ConfigError("the gar receiver secret must be a JSON object") from None
    if not isinstance(spec, dict):
        raise ConfigError("the gar receiver secret must be a JSON object")
    audience, email = spec.get("audience"), spec.get("email")
    if not (isinstance(audience, str) and audience and isinstance(email, str) and email):
        raise ConfigError('the gar receiver secret needs string "audience" and "email"')
    issuers = spec.get("issuers", list(GOOGLE_ISSUERS))
    if not (isinstance(issuers, list) and issuers and all(isinstance(i, str) for i in issuers)):
        raise ConfigError('"issuers" in the gar receiver secret must be a list of strings')
    keys = _keys(spec.get("keys"))
    if not keys:
        raise ConfigError('the gar receiver secret needs at least one key in "keys"')
    return TokenPolicy(audience, email, tuple(issuers), tuple(keys))


def _keys(value: Any) -> list[tuple[str | None, Any]]:
    import jwt  # the web extra; imported late so that `bumper` runs without it

    try:
        if isinstance(value, dict) and isinstance(value.get("keys"), list):
            jwks = [jwt.PyJWK(entry) for entry in value["keys"]]
            return [(key.key_id, key.key) for key in jwks]
        if isinstance(value, dict):
            return [(str(kid), _pem_key(pem)) for kid, pem in value.items()]
        if isinstance(value, list):
            return [(None, _pem_key(pem)) for pem in value]
    except (jwt.PyJWTError, ValueError, TypeError) as error:
        raise ConfigError(f"a key in the gar receiver secret is unusable: {error}") from None
    raise ConfigError('"keys" must be a JWKS object, an object kid → PEM, or a list of PEMs')


def _pem_key(pem: Any) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if not isinstance(pem, str):
        raise TypeError("PEM keys must be strings")
    data = pem.encode()
    if b"CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return load_pem_public_key(data)


def _check(headers: Headers, body: bytes, secret: str) -> None:
    """Pub/Sub's authenticated push: an OIDC ``Authorization: Bearer <JWT>`` (``_policy``)."""
    policy = _policy(secret)
    presented = headers.get("Authorization") or ""
    scheme, _, token = presented.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _auth.missing("Authorization: Bearer token", "missing-token")
    claims = _decode(token.strip(), policy)
    if not _auth.same(str(claims.get("email", "")), policy.email):
        raise _auth.wrong("token email", "bad-token")
    if claims.get("email_verified") is False:
        raise _auth.wrong("token email (not verified)", "bad-token")


def _decode(token: str, policy: TokenPolicy) -> dict[str, Any]:
    import jwt

    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise _auth.wrong("bearer token (not a JWT)", "bad-token") from None
    candidates = [key for key_id, key in policy.keys if key_id is None or key_id == kid]
    if not candidates:
        raise _auth.wrong("bearer token key id", "bad-token")
    for key in candidates:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=policy.audience,
                issuer=policy.issuers,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
            return claims
        except jwt.InvalidSignatureError:
            continue  # try the next key
        except jwt.ExpiredSignatureError:
            raise _auth.wrong("bearer token (expired)", "expired-token") from None
        except jwt.PyJWTError as error:
            raise _auth.wrong(f"bearer token ({_claim_problem(error)})", "bad-token") from None
    raise _auth.wrong("bearer token signature", "bad-signature")


def _claim_problem(error: Exception) -> str:
    import jwt

    if isinstance(error, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(error, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"missing claim {error.claim}"
    return "invalid"


# The secret holds public keys, nothing shared: no length to hold it to. The token signs its
# claims, not the body, so nothing here is a signed identity; its ``exp`` is its window.
AUTH = _auth.Scheme("google-oidc-jwt", _check, secret_form=_policy, material=lambda secret: None)


def delivery_id(headers: Headers, body: bytes) -> str | None:
    message = obj(load_object(body), "message")
    return capped_id(message.get("messageId") or message.get("message_id"))


def parse(headers: Headers, body: bytes) -> list[Event]:
    return parse_envelope(NAME, load_object(body))


def parse_envelope(sender: str, envelope: dict[str, Any]) -> list[Event]:
    """A Pub/Sub push body (or Eventarc ``messagePublished`` data); shared with cloudevents."""
    if "message" not in envelope and "action" in envelope:
        return _notification(sender, envelope)  # the bare data, as printed in Google's docs
    message = envelope.get("message")
    if not isinstance(message, dict):
        raise WebhookRejected("Pub/Sub push body without a message", status=400, reason="malformed")
    encoded = message.get("data")
    if not isinstance(encoded, str):
        return drop(sender, "Pub/Sub message without data")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected(
            "message.data is not base64", status=400, reason="malformed"
        ) from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeError, RecursionError):
        return drop(sender, "message data is not JSON, so not a registry notification")
    if not isinstance(data, dict):
        return drop(sender, "message data is not a registry notification")
    return _notification(sender, data)


def _notification(sender: str, data: dict[str, Any]) -> list[Event]:
    action = (text(data, "action") or "").upper()
    kind = ACTIONS.get(action)
    if kind is None:
        return drop(sender, f"action {action!r} is not INSERT or DELETE")
    tag_ref, digest_ref = text(data, "tag"), text(data, "digest")
    tag_name, tag, _ = split_reference(tag_ref) if tag_ref else (None, None, None)
    digest_name, _, digest = split_reference(digest_ref) if digest_ref else (None, None, None)
    if tag_name and digest_name and tag_name != digest_name:
        return drop(sender, "tag and digest name different images")
    name = first_text(tag_name, digest_name)
    return image_event(sender, kind, name, tag=tag, digest=digest)
