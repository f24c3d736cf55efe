"""How senders authenticate: the schemes a sender module declares as ``AUTH``, and their parts.

A sender module declares its scheme, and the registry (``bumper.sources``) calls it::

    AUTH = _auth.URL_TOKEN                                  # Docker Hub, Quay, Tekton
    AUTH = _auth.HEADER_CREDENTIAL                          # ACR, Distribution, ECR, Jenkins
    AUTH = _auth.BEARER_OR_URL_TOKEN                        # CloudEvents, CDEvents
    AUTH = _auth.hmac_signature("X-Hub-Signature-256", prefix="sha256=")  # GitHub
    AUTH = _auth.shared_token("X-JFrog-Event-Auth")         # JFrog
    AUTH = _auth.Scheme("gitlab-token-or-signature", _check, secret_form=_check_secret)

A ``Scheme`` owns the two checks of the sender contract: ``verify`` (401/403 or a
``ConfigError`` for an unusable secret) and ``check_secret`` (``ConfigError`` at start-up).
Both refuse a blank (empty or whitespace-only) secret first, for every scheme, so a blank
secret is never an open door; ``check_secret`` also refuses a shared secret shorter than
``MIN_SECRET_BYTES`` (the scheme's ``material`` says which part of the secret is the shared
secret: the token of ``Bearer <token>``, the password of ``user:password``, the key of
``whsec_<key>``). A module with its own scheme (a timestamped signature, a JWT) passes its
``check`` function; that function only ever sees a non-blank secret and the case-insensitive
``Headers``.

What a signature covers (``Signed``): a ``check`` returns it, so that the receiver dedupes on
signed fields rather than on headers anyone can change, and refuses a signed timestamp outside
the receiver's replay window (``verify`` checks the window here, once, for every timestamped
scheme, after the signature matched). Token schemes sign nothing and return ``None``.

Every comparison of a presented credential with the secret is constant-time
(``hmac.compare_digest`` over bytes), and an empty credential never matches (``same``).
Rejections carry a reason slug and a message that names the header involved but never echoes
the secret or what the client presented.

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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bumper.core import strength
from bumper.errors import ConfigError, WebhookRejected
from bumper.sources._common import header
from bumper.sources._headers import Headers

URL_TOKEN_HEADER = "X-Bumper-Url-Token"
MIN_SECRET_BYTES = strength.MIN_SECRET_BYTES
REPLAY_WINDOW = 300
"""Default replay window of timestamped schemes, in seconds (``replay_window_seconds``)."""


@dataclass(frozen=True)
class Signed:
    """What a verified signature covers, beyond the body's integrity.

    ``identity``: the dedupe key material the signature binds (a hash of the signed body and
    its event name, or a signed delivery id), ``None`` when it binds none. ``timestamp``: the
    signed send time (Unix seconds), checked against the replay window by ``Scheme.verify``.
    """

    identity: str | None = None
    timestamp: int | None = None


UNSIGNED = Signed()
"""For schemes that sign nothing: tokens, header credentials, a JWT that does not cover the body."""

Check = Callable[[Headers, bytes, str], "Signed | None"]
"""``check(headers, body, secret)``: what is signed (``None``: nothing), else raises 401/403."""


def _whole_secret(secret: str) -> str | bytes | None:
    return secret


@dataclass(frozen=True)
class Scheme:
    """A sender's authentication, declared once as its module's ``AUTH``.

    ``name`` says which scheme it is (for readers and ``repr``). ``check`` authenticates a
    delivery; ``secret_form`` raises ``ConfigError`` when a (non-blank) secret is not in the
    form ``check`` needs, and is what ``check_secret`` runs at start-up. ``material`` returns
    the part of a well-formed secret that is shared with the sender, whose length
    ``check_secret`` holds to ``MIN_SECRET_BYTES``, or ``None`` when the secret holds no shared
    secret (public keys).
    """

    name: str
    check: Check
    secret_form: Callable[[str], object] = lambda secret: None
    material: Callable[[str], str | bytes | None] = _whole_secret

    def verify(
        self,
        headers: Headers,
        body: bytes,
        secret: str,
        *,
        replay_window: int = REPLAY_WINDOW,
        now: float | None = None,
    ) -> Signed:
        signed = self.check(headers, body, require_secret(secret)) or UNSIGNED
        if signed.timestamp is not None:
            check_window(signed.timestamp, replay_window, time.time() if now is None else now)
        return signed

    def check_secret(self, secret: str) -> None:
        self.secret_form(require_secret(secret))
        check_strength(self.material(secret))


def require_secret(secret: str) -> str:
    if not isinstance(secret, str) or not secret.strip():
        raise ConfigError("the receiver secret is empty or blank", reason="secret")
    return secret


def check_strength(material: str | bytes | None) -> None:
    """``ConfigError`` when the shared secret is shorter than ``MIN_SECRET_BYTES`` (never shown)."""
    if material is not None:
        strength.check(material, "receiver secret")


def check_window(timestamp: int, window: int, now: float) -> None:
    """A signed timestamp more than ``window`` seconds from ``now`` (either way) is a replay."""
    if abs(now - timestamp) > window:
        raise WebhookRejected(
            f"the signed timestamp is {int(abs(now - timestamp))}s from now, outside the "
            f"{window}s replay window",
            status=403,
            reason="stale-timestamp",
        )


def same(presented: str | bytes, expected: str | bytes) -> bool:
    """Constant-time equality of two credentials (as UTF-8 bytes); empty never matches."""
    a = presented.encode("utf-8", "surrogatepass") if isinstance(presented, str) else presented
    b = expected.encode("utf-8", "surrogatepass") if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b) and bool(a)


def signed_body(body: bytes, event: str | None = None) -> Signed:
    """The identity of a delivery whose signature covers its whole body: the body's hash and
    the event name (the same body sent as another event is another delivery)."""
    digest = hashlib.sha256((event or "").strip().lower().encode() + b"\0" + body).hexdigest()
    return Signed(identity="body:" + digest)


def missing(what: str, reason: str = "missing-credential") -> WebhookRejected:
    return WebhookRejected(f"missing {what}", status=401, reason=reason)


def wrong(what: str, reason: str = "bad-credential") -> WebhookRejected:
    return WebhookRejected(f"{what} does not match", status=403, reason=reason)


def hmac_hex(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    # The one-shot form: no HMAC object (OpenSSL's when the digest is named).
    return hmac.digest(key, message, algorithm).hex()


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
    """``Authorization: Bearer <token>`` (scheme case-insensitive) or the bare token.

    A bare ``Bearer`` presents no token: it is missing, whatever the secret (``same``).
    """
    scheme, _, rest = presented.strip().partition(" ")
    candidate = rest.strip() if scheme.lower() == "bearer" else presented.strip()
    if not candidate:
        raise missing("Authorization: Bearer token", "missing-token")
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


def check_bearer_or_url_token(headers: Headers, body: bytes, secret: str) -> None:
    """The CloudEvents Web Hook spec's access token: ``Authorization: Bearer``, or in the URL."""
    if header(headers, URL_TOKEN_HEADER) is not None:
        check_url_token(headers, secret)
        return
    presented = headers.get("Authorization")
    if not presented:
        raise missing("Authorization: Bearer token", "missing-token")
    check_bearer(presented, secret)


def hmac_signature(
    name: str, *, prefix: str = "", algorithm: str = "sha256", event_header: str | None = None
) -> Scheme:
    """Header ``name`` holds ``prefix + hex(HMAC(secret, body))`` (``check_hex_signature``).

    The body is signed: the delivery's identity is ``signed_body`` of it and of the
    ``event_header`` value (GitHub's ``X-GitHub-Event``), whatever its delivery id header says.
    """

    def check(headers: Headers, body: bytes, secret: str) -> Signed:
        check_hex_signature(
            headers.get(name),
            header=name,
            secret=secret,
            body=body,
            algorithm=algorithm,
            prefix=prefix,
        )
        return signed_body(body, headers.get(event_header) if event_header else None)

    return Scheme(f"hmac-{algorithm} {name}", check)


def shared_token(name: str) -> Scheme:
    """Header ``name`` holds the secret itself, verbatim (``check_token``)."""

    def check(headers: Headers, body: bytes, secret: str) -> None:
        check_token(headers.get(name), header=name, secret=secret)

    return Scheme(f"token {name}", check)


URL_TOKEN = Scheme("url-token", lambda headers, body, secret: check_url_token(headers, secret))
"""For senders that can send no credential: the secret part of the receiver URL."""


def _credential_material(secret: str) -> str:
    """The shared part of a header credential: the token, or the password of ``user:password``."""
    credential = header_credential(secret)
    return credential.basic[1] if credential.basic is not None else credential.value


HEADER_CREDENTIAL = Scheme(
    "header-credential",
    lambda headers, body, secret: check_header_credential(headers, secret),
    secret_form=header_credential,
    material=_credential_material,
)
"""Basic, bearer or a named header, spelled as described at the top of this module."""

BEARER_OR_URL_TOKEN = Scheme("bearer-or-url-token", check_bearer_or_url_token)
"""The CloudEvents Web Hook access token (``check_bearer_or_url_token``)."""
