"""Weak secrets (issue 13, item 11): blank and short secrets are refused at start, and no
comparison ever accepts an empty credential, whatever the secret."""

from __future__ import annotations

import base64
import json

import pytest

from bumper import sources
from bumper.errors import ConfigError, WebhookRejected
from bumper.sources import _auth
from tests.sources.test_verify import BODY, SCHEMES, Scheme

SHORT = "fifteen-bytes!!"  # 15 bytes
LONG_ENOUGH = "sixteen-bytes!!!"  # 16 bytes
assert (len(SHORT), len(LONG_ENOUGH)) == (15, 16)

# Each spelling of a secret, with a shared part of 15 bytes: all refused at start.
SHORT_SPELLINGS = [
    ("github", SHORT),
    ("gitlab", SHORT),
    ("gitlab", "whsec_" + base64.b64encode(b"k" * 15).decode()),
    ("harbor", "Bearer " + SHORT),
    ("harbor", SHORT),
    ("jfrog", SHORT),
    ("dockerhub", SHORT),
    ("cloudevents", SHORT),
    ("jenkins", "bumper:" + SHORT),
    ("acr", SHORT),
    ("ecr", json.dumps({"header": "X-Api-Key", "value": SHORT})),
    ("distribution", "a-long-user-name:" + SHORT[:3]),
]


@pytest.mark.parametrize(("sender", "secret"), SHORT_SPELLINGS, ids=lambda v: str(v)[:24])
def test_a_short_shared_secret_is_refused_at_start_without_showing_it(
    sender: str, secret: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        sources.SENDERS[sender].check_secret(secret)
    message = str(caught.value)
    assert "too short" in message and "at least 16" in message
    assert SHORT not in message and SHORT[:3] not in message.replace("16", "")


@pytest.mark.parametrize("sender", sorted(sources.SENDERS))
@pytest.mark.parametrize("secret", [" ", "   \t ", "\n"], ids=repr)
def test_a_blank_secret_is_refused_at_start_and_per_request(sender: str, secret: str) -> None:
    with pytest.raises(ConfigError, match="empty or blank"):
        sources.SENDERS[sender].check_secret(secret)
    with pytest.raises(ConfigError, match="empty or blank"):
        sources.SENDERS[sender].verify({"Authorization": "Bearer"}, BODY, secret)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.id)
def test_every_tested_secret_spelling_is_long_enough(scheme: Scheme) -> None:
    sources.SENDERS[scheme.sender].check_secret(scheme.secret)


def test_sixteen_bytes_are_enough() -> None:
    for sender, secret in (
        ("github", LONG_ENOUGH),
        ("harbor", "Bearer " + LONG_ENOUGH),
        ("jenkins", "u:" + LONG_ENOUGH),
        ("gitlab", "whsec_" + base64.b64encode(b"k" * 16).decode()),
    ):
        sources.SENDERS[sender].check_secret(secret)


def test_a_whitespace_secret_never_accepts_a_bare_bearer() -> None:
    """The finding: Harbor with a whitespace-only secret took ``Authorization: Bearer``."""
    for presented in ("Bearer", "Bearer ", "bearer  "):
        with pytest.raises(ConfigError):
            sources.SENDERS["harbor"].verify({"Authorization": presented}, BODY, "   ")


@pytest.mark.parametrize("presented", ["Bearer", "Bearer   ", ""])
def test_a_bare_bearer_presents_no_token(presented: str) -> None:
    with pytest.raises(WebhookRejected) as caught:
        _auth.check_bearer(presented, "")
    assert caught.value.status == 401


def test_empty_credentials_never_match() -> None:
    assert not _auth.same("", "")
    assert not _auth.same(b"", b"")
    assert _auth.same("x", "x")
    # Basic with an empty user and password, against a secret of ":" (checked per request
    # even though check_secret refuses it at start).
    empty_basic = "Basic " + base64.b64encode(b":").decode()
    with pytest.raises(WebhookRejected):
        sources.SENDERS["jenkins"].verify({"Authorization": empty_basic}, BODY, ":")
    with pytest.raises(ConfigError, match="the receiver secret is empty or blank"):
        sources.SENDERS["jenkins"].check_secret(":")


def test_gar_holds_public_keys_so_no_length_applies() -> None:
    gar = next(s for s in SCHEMES if s.id == "gar")
    assert sources.SENDERS["gar"].auth.material(gar.secret) is None
    sources.SENDERS["gar"].check_secret(gar.secret)
