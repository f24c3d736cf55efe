"""``delivery_id``, ``is_ping`` and ``Headers``: what the receiver dedupes and answers on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bumper import sources
from bumper.sources import Headers, cloudevents
from tests.sources.helpers import fixture

# (sender, fixture, extra headers, expected delivery id) — ids read from the payloads/headers.
CASES = [
    (
        "github",
        "workflow_run.completed.success.json",
        {"X-GitHub-Delivery": "72d3162e-cc78"},
        "72d3162e-cc78",
    ),
    (
        "gitlab",
        "pipeline-hook.success.json",
        {"Idempotency-Key": "k-1", "X-Gitlab-Event-UUID": "u-1"},
        "k-1",
    ),
    ("gitlab", "pipeline-hook.success.json", {"X-Gitlab-Event-UUID": "u-1"}, "u-1"),
    ("gitea", "push.json", {}, "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
    ("nexus", "rm-repository-asset.created.json", {}, "7f4a6dde-5c68-4999-bcc0-a62f3fb8ae48"),
    (
        "circleci",
        "workflow-completed.github-oauth.success.json",
        {},
        "3888f21b-eaa7-38e3-8f3d-75a63bba8895",
    ),
    (
        "buildkite",
        "eventbridge.build-finished.passed.json",
        {},
        "bd2f894c-6778-b65d-011a-8898a9df8ee6",
    ),
    ("buildkite", "build.finished.blocked.json", {}, None),
    ("cloudevents", "structured.json-data.json", {}, "C234-1234-1234"),
    ("cloudevents", "binary.json-data.json", {}, "C234-1234-1234"),
    ("cdevents", "pipelinerun.finished.v0.5.1.json", {}, "271069a8-fc18-44f1-b38f-9d70a1695819"),
    ("tekton", "taskrun.unknown.cloudevent.json", {}, "77f78ae7-ff6d-4e39-9d05-b9a0b7850527"),
    ("harbor", "PUSH_ARTIFACT.cloudevents.json", {}, "66e18103-09c1-41f6-982f-37df223f3eeb"),
    ("harbor", "PUSH_ARTIFACT.default.digest-only.json", {}, None),
    ("ecr", "image-action.push.json", {}, "13cde686-328b-6117-af20-0e5566167482"),
    ("acr", "push.json", {}, "cb8c3971-9adc-488b-xxxx-43cbb4974ff5"),
    ("gar", "pubsub.push-envelope.json", {}, "136969346945"),
    ("distribution", "pull.envelope.json", {}, "320678d8-ca14-430f-8bb6-4ca139cd83f7"),
    ("dockerhub", "push.json", {}, None),
    ("quay", "repo_push.json", {}, None),
    ("jenkins", "notification-plugin.completed.success.json", {}, None),
    ("jfrog", "docker.pushed.multi-arch.json", {}, None),
]


@pytest.mark.parametrize(
    ("sender", "name", "headers", "expected"), CASES, ids=lambda v: str(v)[:30]
)
def test_delivery_id(
    shared_dir: Path, sender: str, name: str, headers: dict[str, str], expected: str | None
) -> None:
    file_headers, body = fixture(shared_dir, sender, name)
    assert sources.SENDERS[sender].delivery_id({**file_headers, **headers}, body) == expected


@pytest.mark.parametrize("sender", sorted(sources.SENDERS))
def test_delivery_id_and_is_ping_never_raise_on_garbage(sender: str) -> None:
    module = sources.SENDERS[sender]
    for body in (b"", b"\xff", b"[" * 5000, b'{"id": {"nested": 1}, "message": 3}'):
        assert module.delivery_id({"ce-specversion": "1.0"}, body) is None
        assert module.is_ping({}, body) is False


def test_overlong_delivery_id_is_not_used() -> None:
    assert sources.SENDERS["github"].delivery_id({"X-GitHub-Delivery": "x" * 201}, b"{}") is None


def test_pings() -> None:
    assert sources.SENDERS["github"].is_ping({"x-github-event": "ping"}, b'{"zen": "..."}')
    assert not sources.SENDERS["github"].is_ping({"x-github-event": "push"}, b"{}")
    assert sources.SENDERS["buildkite"].is_ping({"X-Buildkite-Event": "ping"}, b"{}")
    assert sources.SENDERS["github"].parse({"X-GitHub-Event": "ping"}, b'{"zen": "hi"}') == []


def test_cloudevents_handshake_grants_only_configured_origins() -> None:
    headers = {"WebHook-Request-Origin": "EventEmitter.example.com"}
    allowed = {"eventemitter.example.com"}
    assert cloudevents.handshake_headers(headers, allowed) == {
        "WebHook-Allowed-Origin": "eventemitter.example.com",
        "WebHook-Allowed-Rate": "*",
        "Allow": "POST",
    }
    assert cloudevents.handshake_headers(headers, {"other.example"}) is None
    assert cloudevents.handshake_headers(headers, frozenset()) is None  # nothing by default
    assert cloudevents.handshake_headers({}, allowed) is None


def test_headers_are_case_insensitive_and_hide_values() -> None:
    headers = Headers({"X-Hub-Signature-256": "sha256=secretvalue", "Content-Type": "a/b"})
    assert headers["x-hub-signature-256"] == "sha256=secretvalue"
    assert "CONTENT-TYPE" in headers and headers.get("nope") is None
    assert sorted(headers) == ["Content-Type", "X-Hub-Signature-256"]
    assert "secretvalue" not in repr(headers)
    assert Headers.of(headers) is headers
    assert dict(Headers([("A", "1"), ("a", "2")])) == {"a": "2"}
