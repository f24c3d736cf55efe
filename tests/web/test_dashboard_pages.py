"""The dashboard's pages without a browser (tests/browser drives them in chromium): fragments,
the event page, the retry POST's checks, dead-lettered jobs, escaping, a Redis outage, the
images, retrying-jobs and polling panels."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path

import redis
from flask import Flask
from flask.testing import FlaskClient

from bumper import rqjobs
from bumper.core.config import BumperConfig
from bumper.registry import state as poll_state
from bumper.settings import Settings
from bumper.web import create_app, listeners, replicas
from tests.support.jobs import drain
from tests.support.redis_server import RedisServer
from tests.web.conftest import QUEUE, start_redis
from worker import store


def _token(ops_client: FlaskClient) -> str:
    assert ops_client.get("/").status_code == 200
    cookie = ops_client.get_cookie("bumper_csrf")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    return cookie.value


def test_each_panel_renders_alone(ops_client: FlaskClient, redis_client: redis.Redis) -> None:
    for name, marker in [
        ("images", 'id="images-table"'),
        ("jobs", 'id="jobs-failed"'),
        ("processes", 'id="workers"'),
        ("polling", 'id="polling"'),
        ("promotions", 'id="promotions"'),
        ("activity", 'id="deliveries"'),
        ("decisions", 'id="decisions"'),
    ]:
        reply = ops_client.get(f"/panels/{name}")
        html = reply.get_data(as_text=True)
        assert reply.status_code == 200 and marker in html and "<html" not in html
    assert ops_client.get("/panels/nope").status_code == 404


def test_the_retry_post_checks_its_token_origin_and_job(
    ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    token = _token(ops_client)
    forged = ops_client.post("/jobs/ev-x-0/retry", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and "CSRF" in forged.get_data(as_text=True)
    cross = ops_client.post(
        "/jobs/ev-x-0/retry", data={"csrf": token}, headers={"Origin": "http://evil.example"}
    )
    assert cross.status_code == 403
    unknown = ops_client.post("/jobs/ev-x-0/retry", data={"csrf": token})
    assert unknown.status_code == 409 and "no job &#39;ev-x-0&#39;" in unknown.get_data(
        as_text=True
    )
    assert ops_client.post("/jobs/a.b/retry", data={"csrf": token}).status_code == 400


def test_dead_lettered_jobs_are_listed_escaped_and_not_retryable(
    ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    queue = rqjobs.queue(QUEUE, redis_client)
    queue.enqueue("<script>alert(1)</script>", {"x": 1}, job_id="ev-crafted-0")
    drain(redis_client, QUEUE)
    html = ops_client.get("/panels/jobs").get_data(as_text=True)
    dead = html.split('id="jobs-dead"')[1]
    assert "ev-crafted-0" in dead and "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dead
    assert "ev-crafted-0" not in html.split('id="jobs-failed"')[1].split('id="jobs-dead"')[0]
    reply = ops_client.post("/jobs/ev-crafted-0/retry", data={"csrf": _token(ops_client)})
    assert reply.status_code == 409 and "dead-lettered" in reply.get_data(as_text=True)


def test_the_event_page_of_an_unknown_delivery_says_so(
    ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    reply = ops_client.get("/events/<b>nope</b>")
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "Not among the recent deliveries" in html
    assert "<b>nope</b>" not in html and "&lt;b&gt;nope&lt;/b&gt;" in html
    assert "No decision logged for it" in html


def test_panels_survive_a_redis_outage(ops_client: FlaskClient, redis_server: RedisServer) -> None:
    redis_server.stop()
    try:
        paths = ("/panels/jobs", "/panels/images", "/panels/polling", "/events/x")
        pages = [ops_client.get(path) for path in paths]
    finally:
        start_redis(redis_server)
    for page in pages:
        assert page.status_code == 200
    for page in pages:
        assert "Redis unreachable" in page.get_data(as_text=True)


def _app_with_images(settings: Settings, tmp_path: Path) -> Flask:
    token = tmp_path / "agent-token"
    token.write_text("agent-token-0123456789abcdef\n")
    config = BumperConfig.model_validate(
        {
            "apiVersion": "bumper/v1",
            "repos": [{"name": "config", "forge": "git", "url": str(tmp_path / "c.git")}],
            "agents": [{"name": "prod", "token": {"file": str(token)}}],
            "images": [
                {
                    "name": "api",
                    "image": "ghcr.io/acme/api",
                    "policy": {"semver": "^1.0"},
                    "gate": {"ci": "github", "repository": "acme/api"},
                    "targets": [
                        {"repo": "config", "paths": ["prod/**"], "mode": "pr"},
                        {
                            "repo": "config",
                            "paths": ["stage/**"],
                            "mode": "commit",
                            "deploy": "push",
                        },
                    ],
                }
            ],
        }
    )
    return create_app(settings, config)


def test_images_show_head_bump_gate_and_who_applies_it(
    settings: Settings, tmp_path: Path, redis_client: redis.Redis
) -> None:
    app = _app_with_images(settings, tmp_path)
    head = "a" * 40
    shop = store.Store(redis_client)
    shop.record_target(
        "api/0",
        observed={"head": head, "files": {"prod/api.yaml": "1.2.0"}, "at": time.time()},
        bump={"ref": "1.3.0", "sha": "b" * 40, "pr": "javascript:alert(1)", "state": "open"},
    )
    shop.record_target(
        "api/1", deploy={"state": "rolled-back", "commit": head, "message": "not ready", "at": 1}
    )
    synced = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
    status = {"health": "Healthy", "commit": head, "last_sync_time": synced}
    shop.record_agent_status("prod", {**status, "reported_at": time.time() - 120})
    shop.hold("api", "d-1", {"type": "image.pushed"}, "c" * 40, ttl=600)
    html = listeners.ops_app(app).test_client().get("/panels/images").get_data(as_text=True)
    prod = html.split('data-target="api/0"')[1].split("</tr>")[0]
    assert "prod/api.yaml" in prod and "1.2.0" in prod and head[:12] in prod
    assert "open" in prod and "1.3.0" in prod and "javascript:" not in prod  # no such link
    assert "agent prod: Healthy" in prod and "(HEAD)" in prod
    assert "synced 2h ago, reported 2m ago" in prod
    assert "github: 1 push(es) held" in prod
    stage = html.split('data-target="api/1"')[1].split("</tr>")[0]
    assert "push mode: rolled-back" in stage and "not ready" in stage and "agent" not in stage


def test_a_retrying_job_shows_its_next_attempt_and_reason(
    ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    queue = rqjobs.queue(f"{QUEUE}-bumps", redis_client)
    job = queue.enqueue_in(timedelta(minutes=5), rqjobs.RUN_BUMP, "api/0", job_id="bump-api-1")
    job.meta["retry"] = {
        "reason": "push-race",
        "message": "the branch moved while pushing",
        "next_attempt": "2026-01-01T10:00:00+00:00",
        "attempt": 2,
    }
    job.save_meta()  # type: ignore[no-untyped-call]
    queue.enqueue(rqjobs.RUN_BUMP, "web/0", job_id="bump-web-1", description="bump web/0")
    html = ops_client.get("/panels/jobs").get_data(as_text=True)
    active = html.split('id="jobs-active"')[1].split("</table>")[0]
    assert "bump-web-1" in active and "queued" in active and "bump-api-1" not in active
    retrying = html.split('id="jobs-retrying"')[1].split("</table>")[0]
    assert "bump-api-1" in retrying and "2026-01-01T10:00:00+00:00" in retrying
    assert "push-race" in retrying and "the branch moved while pushing" in retrying


def test_web_replicas_beat_and_silent_ones_fade(redis_client: redis.Redis) -> None:
    replicas.beat(redis_client, "web-a:11", started=time.time() - 60)
    old = {"host": "web-b", "pid": "12", "started": 1.0, "seen": time.time() - 45}
    redis_client.hset(replicas.REPLICAS, "web-b:12", json.dumps(old))
    gone = {**old, "seen": time.time() - replicas.FORGET_SECONDS - 1}
    redis_client.hset(replicas.REPLICAS, "web-c:13", json.dumps(gone))
    redis_client.hset(replicas.REPLICAS, "web-d:14", b"not json")
    found = {r["name"]: r["live"] for r in replicas.read(redis_client)}
    assert found == {"web-a:11": True, "web-b:12": False}
    assert set(redis_client.hkeys(replicas.REPLICAS)) == {b"web-a:11", b"web-b:12"}


def _rows(html: str) -> dict[str, str]:
    """The polling table's rows by repository (each row's text, tags removed)."""
    table = html.split('id="polling"')[1].split("</table>")[0]
    rows = {}
    for row in table.split("<tr>")[2:]:
        text = " ".join(re.sub(r"<[^>]+>", " ", row).split())
        rows[text.split()[0]] = text
    return rows


def test_polling_shows_each_repositorys_last_poll_result_and_missed_webhooks(
    ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    """As the worker leaves it (bumper.registry.state's keys); tests/worker/test_polling.py
    shows a real poll there."""
    empty = ops_client.get("/panels/polling").get_data(as_text=True)
    assert "No repository is polled" in empty
    api, private, fresh = "ghcr.io/acme/api", "registry.example/acme/web", "quay.io/acme/new"
    redis_client.sadd(poll_state.WATCHED, api, private, fresh)
    now = time.time()
    redis_client.hset(
        poll_state.REPO + api,
        mapping={
            "last_poll": now - 125,
            "result": "ok",
            "message": "",
            "tags": 12,
            "interval": 300,
            "events": 3,
            "caught": 2,
        },
    )
    redis_client.hset(
        poll_state.REPO + private,
        mapping={
            "last_poll": now - 5,
            "result": "registry-unauthorized",
            "message": "401 from <registry.example>",
            "tags": 0,
            "interval": 60,
        },
    )
    redis_client.hset(poll_state.STATS, mapping={"polls": 7, "requests": 19, "caught": 2})
    html = ops_client.get("/panels/polling").get_data(as_text=True)
    rows = _rows(html)
    assert rows[api] == f"{api} 2m ago ok 12 300s 3 2"
    assert rows[private].startswith(f"{private} 5s ago registry-unauthorized 401 from")
    assert rows[fresh] == f"{fresh} never pending 0 0 0"  # watched, not polled yet
    assert list(rows) == sorted(rows)
    assert "&lt;registry.example&gt;" in html and "<registry.example>" not in html
    assert "7 polls, 19 registry requests, 0 failed" in html
    assert 'class="bad">2</td>' in html  # webhooks missed stand out
    page = ops_client.get("/").get_data(as_text=True)
    assert 'id="polling"' in page and "/panels/polling" in page
