"""``POST /hooks/<receiver>``: every row of the status table, pings, handshakes, URL tokens,
dedup, event-kind filtering, and the JSON error shape. Real Redis, Flask test client."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from flask.testing import FlaskClient

from bumper import rqjobs
from bumper.agent import trigger as agent_trigger
from bumper.errors import WebhookRejected
from bumper.settings import Settings
from bumper.web import create_app, intake
from tests.sources.helpers import fixture
from tests.web.conftest import (
    OTHER,
    QUEUE,
    SECRET,
    config_for,
    receiver_entry,
    signed,
    start_redis,
    wait_until_ready,
)

PUSH_HEADERS = {"X-GitHub-Event": "package", "X-GitHub-Delivery": "11111111-aaaa"}


@pytest.fixture
def ghcr_push(shared_dir: Path) -> bytes:
    return fixture(shared_dir, "github", "package.published.docker.json")[1]


@pytest.fixture
def hub_push(shared_dir: Path) -> bytes:
    return fixture(shared_dir, "dockerhub", "push.json")[1]


def post_github(
    client: FlaskClient, body: bytes, receiver: str = "github", **headers: str
) -> tuple[int, dict[str, object]]:
    signed_headers, _ = signed("github", body, headers={**PUSH_HEADERS, **headers})
    reply = client.post(f"/hooks/{receiver}", data=body, headers=signed_headers)
    assert reply.is_json, reply.data
    return reply.status_code, reply.json or {}


def queued(client: redis.Redis) -> list[str]:
    raw = cast(list[bytes], client.lrange(intake.RQ_QUEUE_PREFIX + QUEUE, 0, -1))
    return [item.decode() for item in raw]


def test_accepted_delivery_answers_202_with_the_queued_event_ids(
    client: FlaskClient, redis_client: redis.Redis, ghcr_push: bytes
) -> None:
    status, body = post_github(client, ghcr_push)
    assert status == 202
    assert body["status"] == "accepted" and body["delivery_id"] == "11111111-aaaa"
    assert body["events"] == queued(redis_client)
    (job_id,) = body["events"]
    job = rqjobs.BumperJob.fetch(job_id, connection=redis_client)
    assert job.get_status() == "queued"
    assert job.args[0]["image"] == "ghcr.io/codertocat/hello-world"
    assert job.args[0]["source"] == "github"


def test_replayed_delivery_id_is_a_duplicate_and_not_queued_twice(
    client: FlaskClient, redis_client: redis.Redis, ghcr_push: bytes
) -> None:
    first = post_github(client, ghcr_push)
    second = post_github(client, ghcr_push)
    assert first[0] == 202
    assert second == (200, {"status": "duplicate", "delivery_id": "11111111-aaaa"})
    assert queued(redis_client) == first[1]["events"]
    # A new delivery id with the same signed body: tests/web/test_replay.py.


def test_sender_without_delivery_id_is_deduplicated_on_the_body_hash(
    client: FlaskClient, redis_client: redis.Redis, hub_push: bytes
) -> None:
    headers, query = signed("dockerhub-url-token", hub_push)
    first = client.post("/hooks/dockerhub", data=hub_push, headers=headers, query_string=query)
    again = client.post("/hooks/dockerhub", data=hub_push, headers=headers, query_string=query)
    assert first.status_code == 202
    assert first.json is not None and first.json["delivery_id"].startswith("sha256:")
    assert again.status_code == 200 and again.json is not None
    assert again.json["status"] == "duplicate"
    assert again.json["delivery_id"] == first.json["delivery_id"]
    changed = hub_push.replace(b'"latest"', b'"v2"')
    third = client.post("/hooks/dockerhub", data=changed, headers=headers, query_string=query)
    assert third.status_code == 202
    assert len(queued(redis_client)) == 2


def test_dedup_window_expires(
    client: FlaskClient, redis_client: redis.Redis, ghcr_push: bytes
) -> None:
    assert post_github(client, ghcr_push)[0] == 202
    (mark,) = redis_client.keys(intake.DEDUP_PREFIX + "*")
    assert 86_000 < redis_client.ttl(mark) <= 86_400
    redis_client.delete(mark)  # what expiry does at the end of the window
    assert post_github(client, ghcr_push)[0] == 202
    assert len(queued(redis_client)) == 2  # the same job id, queued again


def test_url_token_in_a_path_segment(
    client: FlaskClient, redis_client: redis.Redis, hub_push: bytes
) -> None:
    reply = client.post(
        f"/hooks/dockerhub/{SECRET}", data=hub_push, content_type="application/json"
    )
    assert reply.status_code == 202
    wrong = client.post(
        f"/hooks/dockerhub/{OTHER}", data=hub_push + b" ", content_type="application/json"
    )
    assert wrong.status_code == 403


def test_url_token_cannot_be_smuggled_as_a_header(
    client: FlaskClient, redis_client: redis.Redis, hub_push: bytes
) -> None:
    reply = client.post(
        "/hooks/dockerhub",
        data=hub_push,
        headers={"Content-Type": "application/json", "X-Bumper-Url-Token": SECRET},
    )
    assert reply.status_code == 401
    assert queued(redis_client) == []


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/hooks/nobody", 404, "unknown-receiver"),
        ("/hooks/tiny", 413, "body-too-large"),
    ],
)
def test_unknown_receiver_and_oversized_body(
    client: FlaskClient, ghcr_push: bytes, path: str, status: int, reason: str
) -> None:
    headers, _ = signed("github", ghcr_push, headers=PUSH_HEADERS)
    reply = client.post(path, data=ghcr_push, headers=headers)
    assert reply.status_code == status
    assert reply.json is not None and reply.json["error"] == reason and reply.json["message"]


def test_oversized_chunked_body_is_413_without_content_length(client: FlaskClient) -> None:
    # No Content-Length: the body is read up to one byte past the limit, then refused.
    reply = client.post(
        "/hooks/tiny",
        input_stream=io.BytesIO(b"{" + b" " * 10_000 + b"}"),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert reply.status_code == 413


def test_chunked_body_over_the_app_wide_cap_is_413(
    settings: Settings, secret_file: Path, redis_client: redis.Redis
) -> None:
    # The receiver allows more than the process-wide BUMPER_WEB__MAX_BODY_BYTES: the lower wins.
    small = settings.model_copy(
        update={"web": settings.web.model_copy(update={"max_body_bytes": 64})}
    )
    entry = receiver_entry("big", "github", secret_file, max_body_bytes=10_000_000)
    client = create_app(small, config_for([entry])).test_client()
    reply = client.post(
        "/hooks/big",
        input_stream=io.BytesIO(b"{" + b" " * 1000 + b"}"),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert reply.status_code == 413 and reply.json is not None
    assert reply.json["error"] == "body-too-large"


class _CutShort(io.BytesIO):
    """A request body whose connection ends early: reading raises, as gunicorn's
    ``NoMoreData`` (an ``OSError``) does under any worker that streams the body."""

    def read(self, size: int | None = -1) -> bytes:
        raise OSError("No more data after: b'{\"action\": '")


@pytest.mark.parametrize(
    ("stream", "environ"),
    [
        (_CutShort(), {"wsgi.input_terminated": True}),  # chunked
        (_CutShort(), {"CONTENT_LENGTH": "500"}),
        (io.BytesIO(b'{"action": '), {"CONTENT_LENGTH": "500"}),
    ],
    ids=["chunked-raises", "length-raises", "shorter-than-length"],
)
def test_a_body_cut_short_is_400_incomplete_request_not_an_internal_error(
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    stream: io.BytesIO,
    environ: dict[str, Any],
) -> None:
    reply = client.post(
        "/hooks/github",
        input_stream=stream,
        headers={"Content-Type": "application/json", **PUSH_HEADERS},
        environ_overrides=environ,
    )
    assert reply.status_code == 400 and reply.json is not None
    assert reply.json["error"] == "incomplete-request"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/html", "application/xml", ""]
)
def test_wrong_content_type_is_415(
    client: FlaskClient, ghcr_push: bytes, content_type: str
) -> None:
    headers, _ = signed("github", ghcr_push, headers={**PUSH_HEADERS, "Content-Type": content_type})
    if not content_type:
        del headers["Content-Type"]
    reply = client.post("/hooks/github", data=ghcr_push, headers=headers)
    assert reply.status_code == 415
    assert reply.json is not None and reply.json["error"] == "unsupported-media-type"


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=UTF-8", "application/cloudevents+json", "text/plain"],
)
def test_json_spellings_are_accepted(
    client: FlaskClient, ghcr_push: bytes, content_type: str
) -> None:
    status, _ = post_github(client, ghcr_push, **{"Content-Type": content_type})
    assert status == 202


def test_forged_and_missing_signatures(client: FlaskClient, redis_client: redis.Redis) -> None:
    body = b'{"zen": "hi"}'
    headers, _ = signed("github", body, OTHER, headers=PUSH_HEADERS)
    forged = client.post("/hooks/github", data=body, headers=headers)
    missing = client.post(
        "/hooks/github", data=body, headers={**PUSH_HEADERS, "Content-Type": "application/json"}
    )
    assert (forged.status_code, missing.status_code) == (403, 401)
    for reply in (forged, missing):
        assert reply.json is not None and set(reply.json) == {"error", "message"}
        assert reply.json["error"]  # a reason slug, e.g. bad-signature
    assert queued(redis_client) == []


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2, 3]", b'{"package": 7}', b"\xff\xfe\x00", b""]
)
def test_malformed_body_is_400_with_a_reason(
    client: FlaskClient, redis_client: redis.Redis, body: bytes
) -> None:
    status, reply = post_github(client, body)
    assert status in (200, 400)
    if status == 400:
        assert reply["error"] and reply["message"]
    else:  # well-formed JSON that is not an event: accepted as irrelevant, not queued
        assert reply["status"] == "ignored"
    assert queued(redis_client) == []


def test_truncated_json_is_400(client: FlaskClient, ghcr_push: bytes) -> None:
    status, reply = post_github(client, ghcr_push[: len(ghcr_push) // 2])
    assert status == 400
    assert set(reply) == {"error", "message"}


def test_event_kinds_not_allowed_are_ignored(
    client: FlaskClient, redis_client: redis.Redis, ghcr_push: bytes
) -> None:
    status, reply = post_github(client, ghcr_push, receiver="builds-only")
    assert (status, reply) == (200, {"status": "ignored", "reason": "not-allowed", "events": []})
    assert queued(redis_client) == []


def test_github_ping_is_verified_then_answered(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    status, reply = post_github(client, body, **{"X-GitHub-Event": "ping"})
    assert (status, reply) == (200, {"status": "pong", "receiver": "github"})
    headers, _ = signed("github", body, OTHER, headers={"X-GitHub-Event": "ping"})
    assert client.post("/hooks/github", data=body, headers=headers).status_code == 403
    assert queued(redis_client) == []


def test_other_methods_and_routes_answer_json(client: FlaskClient) -> None:
    for reply in (client.get("/hooks/github"), client.get("/no/such/page")):
        assert reply.status_code in (404, 405)
        assert reply.json is not None and set(reply.json) == {"error", "message"}


def test_redis_unreachable_is_503_with_retry_after(
    client: FlaskClient, redis_client: redis.Redis, ghcr_push: bytes, redis_server: object
) -> None:
    from tests.support.redis_server import RedisServer

    assert isinstance(redis_server, RedisServer)
    redis_server.stop()
    try:
        status, reply = post_github(client, ghcr_push)
        assert status == 503 and reply["error"] == "redis-unavailable"
        headers, _ = signed("github", ghcr_push, headers=PUSH_HEADERS)
        raw = client.post("/hooks/github", data=ghcr_push, headers=headers)
        assert raw.headers["Retry-After"] == "7"
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
    finally:
        start_redis(redis_server)
    wait_until_ready(lambda: client.get("/readyz").status_code)
    # No dedup mark was left behind: the sender's retry is accepted and queued.
    status, reply = post_github(client, ghcr_push)
    assert status == 202
    assert queued(redis_client) == reply["events"]


def test_no_secret_in_replies_or_logs(
    client: FlaskClient,
    ops_client: FlaskClient,
    ghcr_push: bytes,
    hub_push: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for secret in (SECRET, OTHER):
        headers, _ = signed("github", ghcr_push, secret, headers=PUSH_HEADERS)
        texts.append(
            client.post("/hooks/github", data=ghcr_push, headers=headers).get_data(as_text=True)
        )
        reply = client.post(
            f"/hooks/dockerhub/{secret}", data=hub_push, content_type="application/json"
        )
        texts.append(reply.get_data(as_text=True))
        reply = client.post(
            "/hooks/dockerhub",
            data=hub_push,
            content_type="application/json",
            query_string={"token": secret},
        )
        texts.append(reply.get_data(as_text=True))
    texts.append(ops_client.get("/").get_data(as_text=True))
    texts.append(ops_client.get("/metrics").get_data(as_text=True))
    texts.append(caplog.text)
    texts.extend(json.dumps(r.__dict__, default=str) for r in caplog.records)
    for text in texts:
        assert SECRET not in text and OTHER not in text
    deliveries = [r for r in caplog.records if r.getMessage() == "delivery"]
    assert any(getattr(r, "delivery_id", None) == "11111111-aaaa" for r in deliveries)


def test_unacknowledged_replication_is_503_until_replicas_hold_it(
    settings: Settings, secret_file: Path, redis_client: redis.Redis, ghcr_push: bytes
) -> None:
    # A standalone Redis has no replica: WAIT 1 times out with 0 acknowledgements.
    web = settings.web.model_copy(update={"wait_replicas": 1, "wait_timeout_ms": 20})
    strict = settings.model_copy(update={"web": web})
    client = create_app(strict, config_for([receiver_entry("github", "github", secret_file)]))
    for _ in range(2):
        # Also the retry: a "duplicate" 200 would stop the sender while the only copy of the
        # job is on the primary. The job is queued once.
        status, reply = post_github(client.test_client(), ghcr_push)
        assert (status, reply["error"]) == (503, "redis-unavailable")
        assert len(queued(redis_client)) == 1


@pytest.mark.parametrize(
    ("failure", "expected"),
    [("missing", 401), ("empty", 401), ("forged", 403), ("body-changed", 403)],
)
def test_receiver_and_agent_answer_one_status_per_failure(
    client: FlaskClient, failure: str, expected: int
) -> None:
    """A GitHub push signature fails the same way at a receiver and at the pull agent."""
    body = b'{"ref": "refs/heads/main", "zen": "hi"}'
    headers = {**PUSH_HEADERS, "Content-Type": "application/json"}
    if failure == "empty":
        headers["X-Hub-Signature-256"] = ""
    elif failure in ("forged", "body-changed"):
        secret = OTHER if failure == "forged" else SECRET
        headers, _ = signed("github", body, secret, headers=PUSH_HEADERS)
    sent = body + b" " if failure == "body-changed" else body
    receiver = client.post("/hooks/github", data=sent, headers=headers)
    with pytest.raises(WebhookRejected) as agent:
        agent_trigger.verify(headers, sent, SECRET, branch="main")
    assert receiver.status_code == agent.value.status == expected
