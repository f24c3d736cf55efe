"""The dashboard's pages without a browser (tests/browser drives them in chromium): fragments,
the event page, the retry POST's checks, dead-lettered jobs, escaping, a Redis outage."""

from __future__ import annotations

import redis
from flask.testing import FlaskClient

from bumper import rqjobs
from tests.support.jobs import drain
from tests.support.redis_server import RedisServer
from tests.web.conftest import QUEUE, start_redis


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
        pages = [ops_client.get(path) for path in ("/panels/jobs", "/panels/images", "/events/x")]
    finally:
        start_redis(redis_server)
    for page in pages:
        assert page.status_code == 200
    for page in pages:
        assert "Redis unreachable" in page.get_data(as_text=True)
