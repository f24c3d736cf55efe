"""``POST /agent/v1/reports``: the agents' one channel for bad images and health (issue 13,
finding 8: the agent used to be handed a writable Redis URL).

Real Redis; the records are read back through the worker's store, as the bump worker does.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from bumper.core import agentreport
from bumper.core.config import BumperConfig
from bumper.errors import ConfigError
from bumper.settings import Settings
from bumper.web import create_app, listeners
from tests.support.web_thread import ThreadedWeb
from tests.web.conftest import SECRET, receiver_entry
from worker import store

TOKEN = "agent-prod-eu-token-0123456789"
OTHER_AGENT_TOKEN = "agent-staging-token-9876543210"
DIGEST = "sha256:" + "ab" * 32
RECORD = {
    "ref": f"ghcr.io/acme/api:1.7.0@{DIGEST}",
    "repository": "ghcr.io/acme/api",
    "tag": "1.7.0",
    "digest": DIGEST,
    "commit": "f" * 40,
    "reason": "Deployment.apps/api not healthy after 300s",
    "at": "2026-12-01T10:00:00Z",
    "agent": "someone-else",
}
STATUS = {"health": "RolledBack", "commit": "e" * 40, "message": "back on eeeeeeeeeeee"}


def agents_config(tmp_path: Path, secret_file: Path, **tokens: str) -> BumperConfig:
    """A github receiver (secret ``SECRET``) and one agent per ``name=token``."""
    agents = []
    for name, token in tokens.items():
        path = tmp_path / f"agent-{name}"
        path.write_text(token + "\n")
        agents.append({"name": name, "token": {"file": str(path)}})
    receivers = [receiver_entry("github", "github", secret_file)]
    return BumperConfig.model_validate(
        {"apiVersion": "bumper/v1", "receivers": receivers, "agents": agents}
    )


@pytest.fixture
def app(settings: Settings, secret_file: Path, tmp_path: Path, redis_client: redis.Redis) -> Flask:
    config = agents_config(tmp_path, secret_file, prod_eu=TOKEN, staging=OTHER_AGENT_TOKEN)
    return create_app(settings, config)


def post(client: FlaskClient, body: Any, token: str | None = TOKEN, **headers: str) -> Any:
    if token is not None:
        headers.setdefault("Authorization", f"Bearer {token}")
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers.setdefault("Content-Type", "application/json")
    return client.post(agentreport.PATH, data=data, headers=headers)


def stored(client: redis.Redis) -> set[bytes]:
    return {k for k in client.keys("bumper:*") if k in (b"bumper:bad-images", b"bumper:agents")}


def test_a_report_without_the_agents_own_token_is_refused_and_writes_nothing(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    report = {"bad_images": [RECORD], "status": STATUS}
    assert post(client, report, token=None).status_code == 401
    for wrong in ("Bearer " + TOKEN[:-1] + "x", f"Basic {TOKEN}", "Bearer", "Bearer   ", TOKEN):
        reply = post(client, report, token=None, Authorization=wrong)
        assert reply.status_code in (401, 403), wrong
        assert TOKEN not in reply.get_data(as_text=True)
    # A receiver's secret is no agent token.
    assert post(client, report, token=SECRET).status_code == 403
    assert stored(redis_client) == set()


def test_a_valid_report_lands_in_the_store_under_the_tokens_agent(
    client: FlaskClient, redis_client: redis.Redis
) -> None:
    reply = post(client, {"bad_images": [RECORD], "status": STATUS})
    assert reply.status_code == 200
    assert reply.json == {"status": "recorded", "agent": "prod_eu", "bad_images": 1}
    found = store.Store(redis_client).bad_image(["ghcr.io/acme/api"], "1.7.0", DIGEST)
    assert found is not None and found["commit"] == "f" * 40
    assert found["agent"] == "prod_eu"  # the token's name, not what the report claimed
    statuses = store.Store(redis_client).agent_statuses()
    assert statuses["prod_eu"]["health"] == "RolledBack"
    # The other agent reports under its own name.
    assert post(client, {"status": {"health": "Healthy"}}, token=OTHER_AGENT_TOKEN).json == {
        "status": "recorded",
        "agent": "staging",
        "bad_images": 0,
    }


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"not json", "application/json", 400, "malformed"),
        (b"[" * 100_000, "application/json", 400, "malformed"),
        (json.dumps({"bad_images": [RECORD]}).encode(), "text/plain", 415, None),
        ({"bad_images": [RECORD], "extra": 1}, None, 400, "invalid-report"),
        ({"bad_images": [{**RECORD, "reason": "two\nlines"}]}, None, 400, "invalid-report"),
        ({"bad_images": [{**RECORD, "digest": "sha256:../../x"}]}, None, 400, "invalid-report"),
        ({"bad_images": [RECORD] * (agentreport.MAX_RECORDS + 1)}, None, 400, "invalid-report"),
        ({"status": {"health": "Healthy", "message": "x" * 501}}, None, 400, "invalid-report"),
        ({"bad_images": [RECORD], "pad": "x" * agentreport.MAX_BODY_BYTES}, None, 413, None),
    ],
    ids=["text", "deep", "media-type", "key", "newline", "digest", "count", "length", "size"],
)
def test_an_invalid_report_is_refused_with_a_reason_and_writes_nothing(
    client: FlaskClient,
    redis_client: redis.Redis,
    body: Any,
    content_type: str | None,
    status: int,
    error: str | None,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    reply = post(client, body, **headers)
    assert reply.status_code == status
    assert reply.json is not None and "message" in reply.json
    if error:
        assert reply.json["error"] == error
    assert stored(redis_client) == set()


def test_the_store_bounds_what_reports_can_add(
    client: FlaskClient, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "BAD_IMAGES_LIMIT", 2)
    records = [{**RECORD, "digest": f"sha256:{n:064x}"} for n in range(2)]
    assert post(client, {"bad_images": records}).status_code == 200
    more = {**RECORD, "digest": "sha256:" + "c" * 64}
    reply = post(client, {"bad_images": [more]})
    assert (reply.status_code, reply.json["error"]) == (507, "store-full")
    assert redis_client.hlen(store.BAD_IMAGES) == 2
    assert post(client, {"bad_images": records[:1]}).status_code == 200  # updates still go


def test_the_dashboard_shows_agents_and_bad_images(
    app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    assert post(client, {"bad_images": [RECORD], "status": STATUS}).status_code == 200
    html = listeners.ops_app(app).test_client().get("/").get_data(as_text=True)
    agents = html.split('id="agents"')[1].split("</table>")[0]
    assert "prod_eu" in agents and "RolledBack" in agents and "No report yet" not in agents
    bad = html.split('id="bad-images"')[1].split("</table>")[0]
    assert "ghcr.io/acme/api:1.7.0" in bad and "not healthy after 300s" in bad


@pytest.mark.parametrize(
    ("tokens", "problem"),
    [
        ({"a": "short-token"}, "agent 'a': the report token is too short: 11 bytes, at least 16"),
        ({"a": " " * 20}, "agent 'a': the report token is empty or blank"),
        ({"a": SECRET}, "also the secret of receiver 'github'"),
        ({"a": TOKEN, "b": TOKEN}, "also the secret of agent 'a'"),
    ],
    ids=["short", "blank", "receiver", "shared"],
)
def test_agent_tokens_are_long_and_their_own(
    settings: Settings, secret_file: Path, tmp_path: Path, tokens: dict[str, str], problem: str
) -> None:
    config = agents_config(tmp_path, secret_file, **tokens)
    with pytest.raises(ConfigError, match=problem) as caught:
        create_app(settings, config)
    for token in tokens.values():
        assert token.strip() == "" or token not in str(caught.value)


def test_a_chunked_report_is_bounded_too(app: Flask, redis_client: redis.Redis) -> None:
    """Without a Content-Length the body is read to one byte past the limit, no further."""
    web = ThreadedWeb(app)
    web.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
        padding = b'{"bad_images": [], "pad": "' + b"x" * agentreport.MAX_BODY_BYTES + b'"}'
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        chunks = (padding[i : i + 65_536] for i in range(0, len(padding), 65_536))
        conn.request("POST", agentreport.PATH, body=chunks, headers=headers, encode_chunked=True)
        reply = conn.getresponse()
        assert (reply.status, json.loads(reply.read())["error"]) == (413, "body-too-large")
        conn.close()
    finally:
        web.stop()
    assert stored(redis_client) == set()
