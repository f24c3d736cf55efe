"""Whatever arrives at ``/hooks/<receiver>`` (random bytes, truncated or mistyped JSON, odd
headers, URL tokens), the answer is a JSON 2xx/4xx, never a 5xx, and nothing is queued unless
the answer is 202. Receivers without a secret (``insecure``) let the bodies reach the parsers."""

from __future__ import annotations

import json

import pytest
import redis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bumper import sources
from bumper.settings import Settings
from bumper.web import create_app, intake
from tests.web.conftest import QUEUE, config_for, fixture_scope

SENDERS = sorted(sources.SENDERS)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
HEADER_NAMES = st.sampled_from(
    [
        "X-GitHub-Event",
        "X-Gitlab-Event",
        "ce-id",
        "ce-type",
        "ce-specversion",
        "X-Buildkite-Event",
        "circleci-event-type",
        "Authorization",
        "X-Nexus-Webhook-Id",
    ]
)


@pytest.fixture(scope="module")
def fuzz_app(redis_server: object, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    from tests.support.redis_server import RedisServer

    assert isinstance(redis_server, RedisServer)
    entries = [
        {"name": f"open-{name}", "type": name, "insecure": True, "scope": fixture_scope(name)}
        for name in SENDERS
    ]
    secret = tmp_path_factory.mktemp("fuzz") / "secret"
    secret.write_text("fuzz-secret-0123456789")
    entries.append({"name": "signed", "type": "github", "secret": {"file": str(secret)}})
    settings_ = Settings(redis_url=redis_server.url, queue_name=QUEUE)
    return create_app(settings_, config_for(entries))


def _post(app: Flask, path: str, body: bytes, headers: dict[str, str]) -> int:
    reply = app.test_client().post(path, data=body, headers=headers)
    assert reply.status_code < 500, (path, reply.status_code, reply.data[:200])
    assert reply.is_json
    payload = reply.json
    assert isinstance(payload, dict)
    if reply.status_code >= 400:
        assert set(payload) == {"error", "message"}
    return reply.status_code


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    sender=st.sampled_from(SENDERS),
    body=st.binary(max_size=300),
    content_type=st.sampled_from(["application/json", "application/cloudevents+json", "text/x"]),
    extra=st.dictionaries(HEADER_NAMES, st.text(max_size=30).filter(str.isprintable), max_size=3),
)
def test_random_bytes_never_5xx(
    fuzz_app: Flask, sender: str, body: bytes, content_type: str, extra: dict[str, str]
) -> None:
    headers = {"Content-Type": content_type, **{k: v for k, v in extra.items() if "\n" not in v}}
    _post(fuzz_app, f"/hooks/open-{sender}", body, headers)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(sender=st.sampled_from(SENDERS), value=JSON_VALUES, cut=st.integers(0, 400))
def test_random_json_and_truncations_never_5xx(
    fuzz_app: Flask, sender: str, value: object, cut: int
) -> None:
    text = json.dumps(value).encode()
    for body in (text, text[:cut]):
        _post(fuzz_app, f"/hooks/open-{sender}", body, {"Content-Type": "application/json"})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(token=st.text(min_size=1, max_size=40), body=st.binary(max_size=100))
def test_random_credentials_are_refused(fuzz_app: Flask, token: str, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": token.encode().hex()}
    assert _post(fuzz_app, "/hooks/signed", body, headers) in (401, 403)


def test_deep_nesting_and_huge_strings(fuzz_app: Flask) -> None:
    deep = b"[" * 50_000 + b"]" * 50_000
    huge = json.dumps({"repository": {"repo_name": "x" * 500_000}}).encode()
    for sender in SENDERS:
        for body in (deep, huge):
            _post(fuzz_app, f"/hooks/open-{sender}", body, {"Content-Type": "application/json"})


def test_only_202_queues(fuzz_app: Flask, redis_server: object) -> None:
    from tests.support.redis_server import RedisServer

    assert isinstance(redis_server, RedisServer)
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    statuses = [
        _post(
            fuzz_app,
            f"/hooks/open-{s}",
            b'{"a": [1, {"b": null}]}',
            {"Content-Type": "application/json"},
        )
        for s in SENDERS
    ]
    assert client.llen(intake.RQ_QUEUE_PREFIX + QUEUE) == statuses.count(202)
