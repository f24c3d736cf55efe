"""``verify`` accepts a correctly signed delivery and rejects forged, missing or stale ones.

Each sender's signing is done here from its documented scheme (independently of the module),
with a test secret; a forgery is the same request signed with another secret, or with the
body changed after signing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest

from bumper import sources
from bumper.errors import ConfigError, WebhookRejected

SECRET = "t0p-s3cret-for-tests"
OTHER = "not-the-secret"
BODY = b'{"hello": "world", "n": [1, 2, 3]}'

Signer = Callable[[bytes, str], dict[str, str]]


def _hex(secret: str, body: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()


SIGNERS: dict[str, Signer] = {
    "github": lambda body, secret: {"X-Hub-Signature-256": "sha256=" + _hex(secret, body)},
    "harbor": lambda body, secret: {"Authorization": secret},
    "dockerhub": lambda body, secret: {"X-Bumper-Url-Token": secret},
}


@pytest.mark.parametrize("sender", sorted(SIGNERS))
def test_correct_signature_is_accepted(sender: str) -> None:
    sources.SENDERS[sender].verify(SIGNERS[sender](BODY, SECRET), BODY, SECRET)


@pytest.mark.parametrize("sender", sorted(SIGNERS))
def test_signature_with_another_secret_is_rejected_without_leaking(sender: str) -> None:
    with pytest.raises(WebhookRejected) as caught:
        sources.SENDERS[sender].verify(SIGNERS[sender](BODY, OTHER), BODY, SECRET)
    assert caught.value.status == 403
    assert SECRET not in str(caught.value) and OTHER not in str(caught.value)


@pytest.mark.parametrize("sender", sorted(SIGNERS))
def test_missing_credentials_are_rejected_with_401(sender: str) -> None:
    with pytest.raises(WebhookRejected) as caught:
        sources.SENDERS[sender].verify({}, BODY, SECRET)
    assert caught.value.status == 401


@pytest.mark.parametrize("sender", sorted(SIGNERS))
def test_empty_secret_is_a_config_error(sender: str) -> None:
    with pytest.raises(ConfigError):
        sources.SENDERS[sender].verify(SIGNERS[sender](BODY, SECRET), BODY, "")


def test_github_rejects_a_body_changed_after_signing() -> None:
    headers = SIGNERS["github"](BODY, SECRET)
    with pytest.raises(WebhookRejected) as caught:
        sources.SENDERS["github"].verify(headers, BODY + b" ", SECRET)
    assert caught.value.reason == "bad-signature"


def test_github_documented_test_vector() -> None:
    # From GitHub's "Validating webhook deliveries" page.
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    sources.SENDERS["github"].verify(
        {"x-hub-signature-256": signature}, b"Hello, World!", "It's a Secret to Everybody"
    )


def test_harbor_accepts_bearer_form_of_a_bare_token() -> None:
    sources.SENDERS["harbor"].verify({"Authorization": f"Bearer {SECRET}"}, BODY, SECRET)
