"""What each sender's deliveries are deduplicated on (issue 13, item 9): signed fields where
the sender signs any, so that unsigned headers cannot make a replay look new.

``SIGNED`` is the audit of docs/senders.md ("dedupe key" column) as data: for every
authentication scheme under test, whether the dedupe key comes from signed fields.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bumper import sources
from bumper.errors import WebhookRejected
from bumper.sources import DeliveryKey, Headers
from tests.sources.helpers import fixture
from tests.sources.test_verify import BODY, SCHEMES, Scheme, _buildkite_signed, _gitlab_signed

SIGNED = {
    "github": True,
    "gitea": True,
    "gitea-hub-header": True,
    "gitlab-signed": True,
    "nexus": True,
    "circleci": True,
    "buildkite-signed": True,
}
# Unsigned id headers a replayer could change freely.
UNSIGNED_ID_HEADERS = {
    "X-GitHub-Delivery": "replayed-1",
    "X-Gitea-Delivery": "replayed-1",
    "Idempotency-Key": "replayed-1",
    "X-Gitlab-Event-UUID": "replayed-1",
    "X-Nexus-Webhook-Delivery": "replayed-1",
}


def key_of(scheme: Scheme, headers: dict[str, str], body: bytes = BODY) -> DeliveryKey:
    sender = sources.SENDERS[scheme.sender]
    signed = sender.verify(headers, body, scheme.secret)
    return sender.key(headers, body, signed, sender.delivery_id(headers, body))


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.id)
def test_dedupe_key_is_signed_exactly_where_the_sender_signs(scheme: Scheme) -> None:
    headers = scheme.sign(BODY, scheme.secret)
    key = key_of(scheme, headers)
    assert key.signed is SIGNED.get(scheme.id, False)
    if key.signed:
        # A replay under fresh unsigned ids is the same delivery.
        assert key_of(scheme, {**headers, **UNSIGNED_ID_HEADERS}).key == key.key
    else:
        assert key.key.startswith(("id:", "sha256:"))


def test_github_key_is_the_signed_body_and_event_name(shared_dir: Path) -> None:
    _, body = fixture(shared_dir, "github", "package.published.docker.json")
    github = next(s for s in SCHEMES if s.id == "github")
    signature = github.sign(body, github.secret)

    def key(event: str, delivery: str) -> str:
        headers = {**signature, "X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
        return key_of(github, headers, body).key

    assert key("package", "a") == key("package", "b") == key("Package", "c")
    assert key("package", "a") != key("registry_package", "a")
    shown = key_of(github, {**signature, "X-GitHub-Delivery": "d-1"}, body)
    assert shown.delivery_id == "d-1"  # the id shown is still the sender's own


def test_gitlab_token_scheme_signs_nothing_and_keeps_the_idempotency_key() -> None:
    token = next(s for s in SCHEMES if s.id == "gitlab-token")
    headers = {**token.sign(BODY, token.secret), "Idempotency-Key": "k-1", "webhook-id": "w"}
    assert key_of(token, headers) == DeliveryKey("id:k-1", "k-1", False)


def test_gitlab_signed_key_is_the_webhook_id_not_the_idempotency_key() -> None:
    scheme = next(s for s in SCHEMES if s.id == "gitlab-signed")
    headers = {**_gitlab_signed(BODY, scheme.secret), "Idempotency-Key": "k-1"}
    key = key_of(scheme, headers)
    assert key.key == "signed:webhook-id:msg_2Lh" and key.delivery_id == "k-1"


@pytest.mark.parametrize(
    ("sender", "name"),
    [
        ("cloudevents", "structured.json-data.json"),
        ("cloudevents", "binary.json-data.json"),
        ("tekton", "taskrun.unknown.cloudevent.json"),
        ("harbor", "PUSH_ARTIFACT.cloudevents.json"),
        ("cdevents", "pipelinerun.finished.v0.5.1.json"),
    ],
)
def test_cloudevents_key_is_source_and_id(shared_dir: Path, sender: str, name: str) -> None:
    headers, body = fixture(shared_dir, sender, name)
    module = sources.SENDERS[sender]
    key = module.key(headers, body, sources.Signed(), module.delivery_id(headers, body))
    source, event_id = json.loads(key.key.removeprefix("id:"))
    assert source and event_id == key.delivery_id


def test_cloudevents_binary_key_changes_with_the_source_header(shared_dir: Path) -> None:
    headers, body = fixture(shared_dir, "cloudevents", "binary.json-data.json")
    module = sources.SENDERS["cloudevents"]
    here = module.key(headers, body, sources.Signed(), "C234-1234-1234")
    there = module.key({**headers, "ce-source": "/other"}, body, sources.Signed(), "C234-1234-1234")
    assert here.key != there.key and here.delivery_id == there.delivery_id


def test_senders_without_ids_dedupe_on_the_body_hash() -> None:
    module = sources.SENDERS["dockerhub"]
    key = module.key({}, b"{}", sources.Signed(), None)
    assert key.key.startswith("sha256:") and key.delivery_id == key.key[:23]


@pytest.mark.parametrize(
    ("sender", "secret", "signer"),
    [
        ("buildkite", "t0p-s3cret-for-tests", _buildkite_signed),
        ("gitlab", "whsec_" + base64.b64encode(b"k" * 32).decode(), _gitlab_signed),
    ],
)
def test_replay_window_is_the_receivers(
    sender: str, secret: str, signer: Callable[..., dict[str, str]]
) -> None:
    module = sources.SENDERS[sender]
    two_minutes_old = signer(BODY, secret, age=120)
    module.verify(two_minutes_old, BODY, secret)  # inside the default 300 s
    with pytest.raises(WebhookRejected) as caught:
        module.verify(two_minutes_old, BODY, secret, replay_window=60)
    assert (caught.value.status, caught.value.reason) == (403, "stale-timestamp")
    assert "60s replay window" in str(caught.value)
    signed = module.verify(signer(BODY, secret, age=0), BODY, secret, replay_window=60)
    assert signed.timestamp is not None and signed.identity


def test_headers_view_is_accepted_by_key() -> None:
    module = sources.SENDERS["github"]
    key = module.key(Headers({"X-GitHub-Delivery": "x"}), b"{}", sources.Signed("body:1"), "x")
    assert key == DeliveryKey("signed:body:1", "x", True)


def test_a_signed_body_without_a_delivery_id_is_shown_short() -> None:
    scheme = next(s for s in SCHEMES if s.id == "buildkite-signed")
    key = key_of(scheme, _buildkite_signed(BODY, scheme.secret))
    assert key.signed and key.key.startswith("signed:body:")
    assert key.delivery_id == key.key.removeprefix("signed:")[:21]
