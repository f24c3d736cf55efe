"""The agent's reporter against the real web app on a real socket (werkzeug in a thread) and a
real Redis: reports queue without blocking, are retried until the web process answers, land
in the worker's store, and no log line carries the token."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bumper.agent import badimages
from bumper.agent.reporter import Reporter
from bumper.agent.status import Status
from bumper.core.config import BumperConfig
from bumper.settings import Settings
from bumper.web import create_app
from tests.support.redis_server import RedisServer
from tests.support.web_thread import ThreadedWeb
from worker import store

TOKEN = "agent-reporter-test-token-42"
DIGEST = "sha256:" + "cd" * 32


@pytest.fixture
def web(tmp_path: Path, redis_server: RedisServer) -> Iterator[ThreadedWeb]:
    token_file = tmp_path / "agent-token"
    token_file.write_text(TOKEN + "\n")
    config = BumperConfig.model_validate(
        {
            "apiVersion": "bumper/v1",
            "agents": [{"name": "edge", "token": {"file": str(token_file)}}],
        }
    )
    redis.Redis.from_url(redis_server.url).flushall()
    server = ThreadedWeb(create_app(Settings(redis_url=redis_server.url), config))
    yield server
    server.stop()


def record(image: str = f"example.com/shop/web:2.0@{DIGEST}") -> dict[str, object]:
    return badimages.record_for(
        image,
        commit="a" * 40,
        reason="Deployment.apps/web\nnot healthy",
        at="2026-12-01T00:00:00Z",
        agent="x",
    )


def test_reports_wait_out_an_outage_and_land_in_the_store(
    web: ThreadedWeb, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reporter = Reporter(web.url, TOKEN, backoff_first=0.05, backoff_cap=0.2)
    # The web process is down: queuing returns at once, and the report stays pending.
    reporter.bad_images([record()])
    reporter.status(Status(commit="b" * 40, health="RolledBack", message="rolled back"))
    assert not reporter.flush(timeout=0.5)
    web.start()
    assert reporter.close(timeout=15), caplog.text
    found = store.Store(redis.Redis.from_url(redis_server.url)).bad_image(
        ["example.com/shop/web"], "2.0", DIGEST
    )
    assert found is not None and found["agent"] == "edge"
    assert found["reason"] == "Deployment.apps/web not healthy"  # made one line on the way
    statuses = store.Store(redis.Redis.from_url(redis_server.url)).agent_statuses()
    assert statuses["edge"]["health"] == "RolledBack"
    assert "retrying" in caplog.text  # it did meet the outage
    assert TOKEN not in caplog.text and TOKEN not in repr(reporter)


def test_a_refused_report_is_dropped_not_retried_forever(
    web: ThreadedWeb, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    web.start()
    reporter = Reporter(web.url, "not-the-agent-token-at-all", backoff_first=0.05)
    reporter.bad_images([record()])
    assert reporter.close(timeout=15)
    assert "refused: HTTP 403 bad-token" in caplog.text
    assert not redis.Redis.from_url(redis_server.url).exists(store.BAD_IMAGES)


def test_a_record_the_schema_refuses_is_skipped_and_the_rest_is_sent(
    web: ThreadedWeb, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    web.start()
    reporter = Reporter(web.url, TOKEN)
    reporter.bad_images([record("Bad Image Name:1"), record()])
    assert reporter.close(timeout=15)
    assert "not reported" in caplog.text
    assert redis.Redis.from_url(redis_server.url).hlen(store.BAD_IMAGES) == 1
