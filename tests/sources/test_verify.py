"""``verify`` accepts a correctly signed delivery and rejects forged, missing or stale ones.

Signing is done here from each sender's documented scheme, independently of the modules, with
a test secret. A forgery is the same request signed with another secret of the same kind, or
the body changed after signing. Rejections must be 401 (missing) / 403 (wrong) and must not
quote either secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bumper import sources
from bumper.errors import ConfigError, WebhookRejected

BODY = b'{"hello": "world", "n": [1, 2, 3]}'
TOKEN, OTHER_TOKEN = "t0p-s3cret-for-tests", "not-the-secret"

Signer = Callable[[bytes, str], dict[str, str]]


def _hex(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()


def _basic(user_password: str) -> str:
    return "Basic " + base64.b64encode(user_password.encode()).decode()


def _gitlab_signed(body: bytes, secret: str, *, age: int = 0) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    stamp = str(int(time.time()) - age)
    mac = hmac.new(key, b"msg_2Lh." + stamp.encode() + b"." + body, hashlib.sha256).digest()
    return {
        "webhook-id": "msg_2Lh",
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def _buildkite_signed(body: bytes, secret: str, *, age: int = 0) -> dict[str, str]:
    stamp = str(int(time.time()) - age)
    signature = _hex(secret, stamp.encode() + b"." + body)
    return {"X-Buildkite-Signature": f"timestamp={stamp},signature={signature}"}


def _header_json(header: str, value: str) -> str:
    return json.dumps({"header": header, "value": value})


# --- GAR: an RSA key pair made for the tests, a JWKS secret, and tokens signed with it.
AUDIENCE = "https://bumper.example.test/hooks/gar"
EMAIL = "push@my-project.iam.gserviceaccount.com"


@cache
def _rsa(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _gar_secret(key_name: str) -> str:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_rsa(key_name).public_key()))
    jwk.update(kid=key_name, alg="RS256", use="sig")
    return json.dumps({"audience": AUDIENCE, "email": EMAIL, "keys": {"keys": [jwk]}})


def _gar_token(key_name: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "email": EMAIL,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
        "sub": "1234",
        **claims,
    }
    return jwt.encode(payload, _rsa(key_name), algorithm="RS256", headers={"kid": key_name})


def _gar_signed(body: bytes, secret: str) -> dict[str, str]:
    kid = json.loads(secret)["keys"]["keys"][0]["kid"]
    return {"Authorization": f"Bearer {_gar_token(kid)}"}


@dataclass(frozen=True)
class Scheme:
    id: str
    sender: str
    secret: str
    other: str
    sign: Signer


def _token_header(name: str) -> Signer:
    return lambda body, secret: {name: secret}


SCHEMES = [
    Scheme(
        "github",
        "github",
        TOKEN,
        OTHER_TOKEN,
        lambda b, s: {"X-Hub-Signature-256": "sha256=" + _hex(s, b)},
    ),
    Scheme("gitea", "gitea", TOKEN, OTHER_TOKEN, lambda b, s: {"X-Gitea-Signature": _hex(s, b)}),
    Scheme(
        "gitea-hub-header",
        "gitea",
        TOKEN,
        OTHER_TOKEN,
        lambda b, s: {"X-Hub-Signature-256": "sha256=" + _hex(s, b)},
    ),
    Scheme("gitlab-token", "gitlab", TOKEN, OTHER_TOKEN, _token_header("X-Gitlab-Token")),
    Scheme(
        "gitlab-signed",
        "gitlab",
        "whsec_" + base64.b64encode(b"k" * 32).decode(),
        "whsec_" + base64.b64encode(b"x" * 32).decode(),
        _gitlab_signed,
    ),
    Scheme(
        "harbor",
        "harbor",
        "Bearer " + TOKEN,
        "Bearer " + OTHER_TOKEN,
        _token_header("Authorization"),
    ),
    Scheme(
        "nexus",
        "nexus",
        TOKEN,
        OTHER_TOKEN,
        lambda b, s: {"X-Nexus-Webhook-Signature": _hex(s, b, "sha1")},
    ),
    Scheme(
        "circleci",
        "circleci",
        TOKEN,
        OTHER_TOKEN,
        lambda b, s: {"circleci-signature": "v1=" + _hex(s, b)},
    ),
    Scheme("buildkite-token", "buildkite", TOKEN, OTHER_TOKEN, _token_header("X-Buildkite-Token")),
    Scheme("buildkite-signed", "buildkite", TOKEN, OTHER_TOKEN, _buildkite_signed),
    Scheme("jfrog", "jfrog", TOKEN, OTHER_TOKEN, _token_header("X-JFrog-Event-Auth")),
    *[
        Scheme(
            f"{sender}-url-token", sender, TOKEN, OTHER_TOKEN, _token_header("X-Bumper-Url-Token")
        )
        for sender in ("dockerhub", "quay", "tekton", "cloudevents", "cdevents")
    ],
    *[
        Scheme(
            f"{sender}-bearer",
            sender,
            TOKEN,
            OTHER_TOKEN,
            lambda b, s: {"Authorization": f"Bearer {s}"},
        )
        for sender in ("cloudevents", "cdevents", "distribution", "acr", "ecr", "jenkins")
    ],
    *[
        Scheme(
            f"{sender}-basic",
            sender,
            "bumper:" + TOKEN,
            "bumper:" + OTHER_TOKEN,
            lambda b, s: {"Authorization": _basic(s)},
        )
        for sender in ("distribution", "acr", "ecr", "jenkins")
    ],
    *[
        Scheme(
            f"{sender}-named-header",
            sender,
            _header_json("X-Api-Key", TOKEN),
            _header_json("X-Api-Key", OTHER_TOKEN),
            lambda b, s: {"x-api-key": json.loads(s)["value"]},
        )
        for sender in ("distribution", "acr", "ecr", "jenkins")
    ],
    Scheme("gar", "gar", _gar_secret("trusted"), _gar_secret("attacker"), _gar_signed),
]


def _secrets(scheme: Scheme) -> tuple[str, ...]:
    """The strings that must never appear in an error message."""
    found = {scheme.secret, scheme.other}
    for secret in (scheme.secret, scheme.other):
        if secret.startswith("{") and "value" in secret:
            found.add(json.loads(secret)["value"])
    found.update((TOKEN, OTHER_TOKEN))
    return tuple(found)


def test_every_sender_has_a_scheme_under_test() -> None:
    assert {scheme.sender for scheme in SCHEMES} == set(sources.SENDERS)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.id)
def test_correctly_signed_delivery_is_accepted(scheme: Scheme) -> None:
    sender = sources.SENDERS[scheme.sender]
    sender.check_secret(scheme.secret)
    sender.verify(scheme.sign(BODY, scheme.secret), BODY, scheme.secret)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.id)
def test_forged_delivery_is_rejected_with_403_without_leaking(scheme: Scheme) -> None:
    with pytest.raises(WebhookRejected) as caught:
        sources.SENDERS[scheme.sender].verify(scheme.sign(BODY, scheme.other), BODY, scheme.secret)
    assert caught.value.status == 403
    message = f"{caught.value} {caught.value.reason}"
    assert not any(secret in message for secret in _secrets(scheme))


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.id)
def test_missing_credentials_are_rejected_with_401(scheme: Scheme) -> None:
    with pytest.raises(WebhookRejected) as caught:
        sources.SENDERS[scheme.sender].verify(
            {"Content-Type": "application/json"}, BODY, scheme.secret
        )
    assert caught.value.status == 401


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.id)
def test_empty_secret_is_a_config_error_not_an_open_door(scheme: Scheme) -> None:
    sender = sources.SENDERS[scheme.sender]
    with pytest.raises(ConfigError):
        sender.verify(scheme.sign(BODY, scheme.secret), BODY, "")
    with pytest.raises(ConfigError):
        sender.check_secret("")


BODY_BOUND = [s for s in SCHEMES if s.sender in ("github", "gitea", "nexus", "circleci")] + [
    s for s in SCHEMES if s.id in ("gitlab-signed", "buildkite-signed")
]


@pytest.mark.parametrize("scheme", BODY_BOUND, ids=lambda s: s.id)
def test_signature_binds_the_body(scheme: Scheme) -> None:
    headers = scheme.sign(BODY, scheme.secret)
    with pytest.raises(WebhookRejected) as caught:
        sources.SENDERS[scheme.sender].verify(
            headers, BODY.replace(b"world", b"w0rld"), scheme.secret
        )
    assert (caught.value.status, caught.value.reason) == (403, "bad-signature")


@pytest.mark.parametrize(
    ("sender", "secret", "signer"),
    [
        ("buildkite", TOKEN, _buildkite_signed),
        ("gitlab", "whsec_" + base64.b64encode(b"k" * 32).decode(), _gitlab_signed),
    ],
)
def test_replayed_timestamped_signature_is_rejected(sender: str, secret: str, signer: Any) -> None:
    module = sources.SENDERS[sender]
    module.verify(signer(BODY, secret, age=60), BODY, secret)  # a little late is fine
    with pytest.raises(WebhookRejected) as caught:
        module.verify(signer(BODY, secret, age=3600), BODY, secret)
    assert (caught.value.status, caught.value.reason) == (403, "stale-timestamp")


def test_github_documented_test_vector() -> None:
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    sources.SENDERS["github"].verify(
        {"x-hub-signature-256": signature}, b"Hello, World!", "It's a Secret to Everybody"
    )


def test_circleci_documented_test_vector_among_other_versions() -> None:
    signature = "v2=abc,v1=734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a"
    sources.SENDERS["circleci"].verify({"circleci-signature": signature}, b"hello world", "secret")


def test_gitlab_accepts_any_of_several_signatures() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    headers = _gitlab_signed(BODY, secret)
    headers["webhook-signature"] = "v1,bm9wZQ== " + headers["webhook-signature"]
    sources.SENDERS["gitlab"].verify(headers, BODY, secret)


def test_harbor_accepts_bearer_form_of_a_bare_token() -> None:
    sources.SENDERS["harbor"].verify({"Authorization": f"Bearer {TOKEN}"}, BODY, TOKEN)


def test_basic_auth_with_wrong_user_is_rejected() -> None:
    with pytest.raises(WebhookRejected) as caught:
        sources.SENDERS["jenkins"].verify(
            {"Authorization": _basic("mallory:" + TOKEN)}, BODY, "bumper:" + TOKEN
        )
    assert caught.value.status == 403


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "https://elsewhere.test/"}, "bad-token"),
        ({"email": "someone@else.test"}, "bad-token"),
        ({"iss": "https://evil.test"}, "bad-token"),
        ({"email_verified": False}, "bad-token"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired-token"),
    ],
)
def test_gar_rejects_tokens_with_wrong_claims(claims: dict[str, Any], reason: str) -> None:
    token = _gar_token("trusted", **claims)
    with pytest.raises(WebhookRejected) as caught:
        sources.SENDERS["gar"].verify(
            {"Authorization": f"Bearer {token}"}, BODY, _gar_secret("trusted")
        )
    assert (caught.value.status, caught.value.reason) == (403, reason)


def test_gar_rejects_an_unsigned_token() -> None:
    # PyJWT's "none" algorithm takes key "" as None (its annotation does not allow None).
    token = jwt.encode({"aud": AUDIENCE, "email": EMAIL}, key="", algorithm="none")
    with pytest.raises(WebhookRejected) as caught:
        sources.SENDERS["gar"].verify(
            {"Authorization": f"Bearer {token}"}, BODY, _gar_secret("trusted")
        )
    assert caught.value.status == 403


def test_gar_accepts_pem_keys_by_kid() -> None:
    from cryptography.hazmat.primitives import serialization

    pem = (
        _rsa("trusted")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    secret = json.dumps({"audience": AUDIENCE, "email": EMAIL, "keys": {"trusted": pem}})
    token = _gar_token("trusted")
    sources.SENDERS["gar"].verify({"Authorization": f"Bearer {token}"}, BODY, secret)


@pytest.mark.parametrize(
    "secret",
    ["not json", "[]", '{"audience": "a"}', '{"audience": "a", "email": "e", "keys": 3}'],
)
def test_gar_secret_must_be_a_complete_policy(secret: str) -> None:
    with pytest.raises(ConfigError):
        sources.SENDERS["gar"].check_secret(secret)


@pytest.mark.parametrize(
    "secret", ['{"header": "X-A"}', "{not json", '{"header": "X", "value": "v", "x": 1}']
)
def test_header_secret_json_must_name_header_and_value(secret: str) -> None:
    with pytest.raises(ConfigError):
        sources.SENDERS["acr"].check_secret(secret)


def test_named_authorization_header_takes_tokens_with_colons() -> None:
    secret = _header_json("Authorization", "id:key")
    for presented in ("id:key", "Bearer id:key"):
        sources.SENDERS["distribution"].verify({"Authorization": presented}, BODY, secret)
    with pytest.raises(WebhookRejected):
        sources.SENDERS["distribution"].verify({"Authorization": "Bearer id:kez"}, BODY, secret)
