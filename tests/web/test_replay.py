"""Replays over HTTP (issue 13, items 9 and 13): dedupe on what the sender signs, replay
windows for signed timestamps, and the CloudEvents handshake only for configured origins.

Real Redis, the Flask test client, the vendors' own payloads from the shared fixtures, each
request signed the way its sender signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from flask.testing import FlaskClient

from bumper.settings import Settings
from bumper.web import create_app, intake, recent
from tests.sources.helpers import fixture
from tests.web.conftest import QUEUE, SCHEMES, config_for, fixture_scope, receiver_entry, signed

GITLAB_KEY = b"k" * 32  # the key of the "gitlab-signed" scheme's whsec_ secret


def queued(client: redis.Redis) -> list[str]:
    raw = cast(list[bytes], client.lrange(intake.RQ_QUEUE_PREFIX + QUEUE, 0, -1))
    return [item.decode() for item in raw]


def refused_log(client: redis.Redis) -> list[dict[str, Any]]:
    """The recent refused requests: kept apart from the accepted ones (issue 13, item 7)."""
    raw = cast(list[bytes], client.lrange(recent.REFUSED_KEY, 0, -1))
    return [json.loads(item) for item in raw]


def post(
    client: FlaskClient, receiver: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    reply = client.post(f"/hooks/{receiver}", data=body, headers=headers)
    assert reply.is_json, reply.data
    return reply.status_code, reply.json or {}


def gitlab_signed(
    body: bytes, webhook_id: str, *, age: int = 0, idempotency_key: str | None = None
) -> dict[str, str]:
    """GitLab's Standard-Webhooks signature of ``body`` under ``webhook_id``, ``age`` s old."""
    stamp = str(int(time.time()) - age)
    message = f"{webhook_id}.{stamp}.".encode() + body
    mac = base64.b64encode(hmac.new(GITLAB_KEY, message, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Pipeline Hook",
        "webhook-id": webhook_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + mac,
        **({"Idempotency-Key": idempotency_key} if idempotency_key else {}),
    }


# --- dedupe on signed identity ---------------------------------------------------------------


def test_signed_github_body_replayed_under_a_new_delivery_id_is_a_duplicate(
    client: FlaskClient, redis_client: redis.Redis, shared_dir: Path
) -> None:
    _, body = fixture(shared_dir, "github", "package.published.docker.json")

    def deliver(payload: bytes, delivery: str) -> tuple[int, dict[str, Any]]:
        extra = {"X-GitHub-Event": "package", "X-GitHub-Delivery": delivery}
        return post(client, "github", payload, signed("github", payload, headers=extra)[0])

    first = deliver(body, "72d3162e-0001")
    assert first[0] == 202
    # An attacker holding one signed delivery sends it again under a fresh, unsigned id.
    replay = deliver(body, "72d3162e-ffff")
    assert replay == (200, {"status": "duplicate", "delivery_id": "72d3162e-ffff"})
    assert queued(redis_client) == first[1]["events"]
    # Another signed body is another delivery, whatever its id.
    updated = body.replace(b'"action": "published"', b'"action": "updated"', 1)
    assert deliver(updated, "72d3162e-0001")[0] == 202
    assert len(queued(redis_client)) == 2


def test_gitlab_signed_webhook_id_wins_over_the_unsigned_idempotency_key(
    client: FlaskClient, redis_client: redis.Redis, shared_dir: Path
) -> None:
    _, body = fixture(shared_dir, "gitlab", "pipeline-hook.success.json")
    first = post(client, "gitlab-signed", body, gitlab_signed(body, "msg_1", idempotency_key="a"))
    assert first[0] == 202
    # The same signed message under a new Idempotency-Key is the same message.
    again = post(client, "gitlab-signed", body, gitlab_signed(body, "msg_1", idempotency_key="b"))
    assert (again[0], again[1]["status"]) == (200, "duplicate")
    # A new signed webhook-id is a new message, even under an Idempotency-Key already seen
    # (another pipeline's result here: the same run's result again is one build.finished).
    other_run = body.replace(b'"id": 31,', b'"id": 32,', 1)
    assert other_run != body
    other = post(
        client, "gitlab-signed", other_run, gitlab_signed(other_run, "msg_2", idempotency_key="a")
    )
    assert other[0] == 202
    assert len(queued(redis_client)) == 2
    # The same run's result under yet another webhook-id counts once.
    same_run = post(
        client, "gitlab-signed", body, gitlab_signed(body, "msg_3", idempotency_key="c")
    )
    assert (same_run[0], same_run[1]["status"]) == (200, "duplicate")


def test_cloudevents_with_the_same_id_from_another_source_is_another_event(
    client: FlaskClient, redis_client: redis.Redis, shared_dir: Path
) -> None:
    _, body = fixture(shared_dir, "harbor", "PUSH_ARTIFACT.cloudevents.json")
    event = json.loads(body)
    elsewhere = json.dumps({**event, "source": "/projects/2/webhook/policies/9"}).encode()
    headers, _ = signed(
        "cloudevents-bearer", body, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert post(client, "cloudevents-bearer", body, headers)[0] == 202
    assert post(client, "cloudevents-bearer", elsewhere, headers)[0] == 202
    assert len(queued(redis_client)) == 2
    # The same source and id again is a duplicate, however the rest of the body differs.
    retried = json.dumps({**event, "time": "2099-01-01T00:00:00Z"}).encode()
    status, reply = post(client, "cloudevents-bearer", retried, headers)
    assert (status, reply["status"]) == (200, "duplicate")


def test_cdevents_with_the_same_id_from_another_source_is_another_event(
    settings: Settings, tmp_path: Path, redis_client: redis.Redis, shared_dir: Path
) -> None:
    secret = tmp_path / "cdevents-secret"
    secret.write_text(SCHEMES["cdevents-bearer"].secret)
    entry = receiver_entry("cde", "cdevents", secret, scope={"images": ["ghcr.io/acme"]})
    client = create_app(settings, config_for([entry])).test_client()
    _, body = fixture(shared_dir, "cdevents", "artifact.published.v0.5.1.json")
    event = json.loads(body)
    # The vendor's example names a golang package; an OCI image in the receiver's scope instead.
    purl = "pkg:oci/app@sha256%3A0b1d?repository_url=ghcr.io/acme/app&tag=v1"
    event["subject"]["id"] = purl
    body = json.dumps(event).encode()
    moved = {**event, "context": {**event["context"], "source": "/event/source/elsewhere"}}
    headers, _ = signed("cdevents-bearer", body)
    assert post(client, "cde", body, headers)[0] == 202
    assert post(client, "cde", json.dumps(moved).encode(), headers)[0] == 202
    assert post(client, "cde", body, headers)[1]["status"] == "duplicate"


# --- replay windows --------------------------------------------------------------------------


def buildkite_build(shared_dir: Path) -> bytes:
    """The vendor's blocked-build example, naming a repository: a build that names none is
    out of every receiver's scope."""
    _, body = fixture(shared_dir, "buildkite", "build.finished.blocked.json")
    data = json.loads(body)
    data["pipeline"]["repository"] = "git@github.com:acme/api.git"
    return json.dumps(data).encode()


@pytest.fixture
def windowed(settings: Settings, tmp_path: Path, redis_client: redis.Redis) -> FlaskClient:
    """GitLab (signing token) and Buildkite (signature) receivers: default window and 60 s."""
    entries = []
    for scheme_id in ("gitlab-signed", "buildkite-signed"):
        path = tmp_path / f"secret-{scheme_id}"
        path.write_text(SCHEMES[scheme_id].secret)
        sender = SCHEMES[scheme_id].sender
        scope = {"repos": ["acme/api", *fixture_scope(sender)["repos"]]}
        entries.append(receiver_entry(f"{sender}-default", sender, path, scope=scope))
        entries.append(
            receiver_entry(f"{sender}-60", sender, path, scope=scope, replay_window_seconds=60)
        )
    return create_app(settings, config_for(entries)).test_client()


def buildkite_signed(body: bytes, *, age: int) -> dict[str, str]:
    stamp = str(int(time.time()) - age)
    secret = SCHEMES["buildkite-signed"].secret.encode()
    mac = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Buildkite-Event": "build.finished",
        "X-Buildkite-Signature": f"timestamp={stamp},signature={mac}",
    }


def test_signed_timestamps_outside_the_receivers_window_are_refused_and_recorded(
    windowed: FlaskClient, redis_client: redis.Redis, shared_dir: Path
) -> None:
    _, gitlab_body = fixture(shared_dir, "gitlab", "pipeline-hook.success.json")
    buildkite_body = buildkite_build(shared_dir)
    two_minutes_old = {
        "gitlab": (gitlab_body, gitlab_signed(gitlab_body, "msg_old", age=120)),
        "buildkite": (buildkite_body, buildkite_signed(buildkite_body, age=120)),
    }
    for sender, (body, headers) in two_minutes_old.items():
        status, reply = post(windowed, f"{sender}-60", body, headers)
        assert (status, reply["error"]) == (403, "stale-timestamp"), sender
        assert "outside the 60s replay window" in reply["message"]
        assert post(windowed, f"{sender}-default", body, headers)[0] == 202, sender
        # Ten minutes is outside the default window (300 s) too.
    ten_minutes_old = gitlab_signed(gitlab_body, "msg_older", age=600)
    status, reply = post(windowed, "gitlab-default", gitlab_body, ten_minutes_old)
    assert (status, reply["error"]) == (403, "stale-timestamp")
    future = buildkite_signed(buildkite_body, age=-600)
    assert post(windowed, "buildkite-default", buildkite_body, future)[0] == 403
    refused = [
        (e["receiver"], e["result"]) for e in refused_log(redis_client) if e["status"] == 403
    ]
    assert sorted(refused) == [
        ("buildkite-60", "stale-timestamp"),
        ("buildkite-default", "stale-timestamp"),
        ("gitlab-60", "stale-timestamp"),
        ("gitlab-default", "stale-timestamp"),
    ]
    assert len(queued(redis_client)) == 2


def test_a_re_signed_buildkite_retry_of_the_same_body_is_a_duplicate(
    windowed: FlaskClient, redis_client: redis.Redis, shared_dir: Path
) -> None:
    body = buildkite_build(shared_dir)
    assert post(windowed, "buildkite-default", body, buildkite_signed(body, age=30))[0] == 202
    status, reply = post(windowed, "buildkite-default", body, buildkite_signed(body, age=0))
    assert (status, reply["status"]) == (200, "duplicate")
    assert len(queued(redis_client)) == 1


def test_a_replay_window_longer_than_the_dedup_window_is_refused_at_start(
    settings: Settings, secret_file: Path
) -> None:
    short = settings.model_copy(
        update={"web": settings.web.model_copy(update={"dedup_window_seconds": 120})}
    )
    entry = receiver_entry("gl", "gitlab", secret_file, replay_window_seconds=300)
    from bumper.errors import ConfigError

    with pytest.raises(ConfigError, match=r"receiver 'gl': replay_window_seconds \(300\)"):
        create_app(short, config_for([entry]))


# --- the CloudEvents handshake and CORS ------------------------------------------------------


@pytest.fixture
def origins(settings: Settings, secret_file: Path, redis_client: redis.Redis) -> FlaskClient:
    entries = [
        receiver_entry("plain", "cloudevents", secret_file),
        receiver_entry(
            "consenting",
            "cloudevents",
            secret_file,
            allowed_origins=["EventEmitter.example.com"],
        ),
    ]
    return create_app(settings, config_for(entries)).test_client()


def handshake(client: FlaskClient, receiver: str, origin: str) -> Any:
    return client.options(
        f"/hooks/{receiver}",
        headers={"WebHook-Request-Origin": origin, "WebHook-Request-Rate": "120"},
    )


def test_handshake_grants_only_origins_configured_on_the_receiver(
    origins: FlaskClient, redis_client: redis.Redis
) -> None:
    granted = handshake(origins, "consenting", "eventemitter.example.com")
    assert granted.status_code == 200
    assert granted.headers["WebHook-Allowed-Origin"] == "eventemitter.example.com"
    assert granted.headers["WebHook-Allowed-Rate"] == "*"
    assert "POST" in granted.headers["Allow"]
    for receiver, origin in (("consenting", "evil.example"), ("plain", "eventemitter.example.com")):
        refused = handshake(origins, receiver, origin)
        assert refused.status_code == 403, (receiver, origin)
        assert refused.json == {
            "error": "origin-not-allowed",
            "message": "this origin is not in the receiver's allowed_origins",
        }
        assert "WebHook-Allowed-Origin" not in refused.headers
    results = [(e["receiver"], e["result"]) for e in refused_log(redis_client)]
    assert ("plain", "origin-not-allowed") in results
    # Not a handshake: the allowed methods, nothing granted.
    bare = origins.options("/hooks/plain")
    assert bare.status_code == 200 and "WebHook-Allowed-Origin" not in bare.headers


def test_no_cors_header_is_granted_to_a_browser(origins: FlaskClient) -> None:
    preflight = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization",
    }
    for path in ("/hooks/plain", "/hooks/consenting", "/healthz", "/readyz"):
        reply = origins.options(path, headers=preflight)
        granted = [name for name in reply.headers.keys() if name.lower().startswith("access-")]
        assert granted == [], path
