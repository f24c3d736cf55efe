"""``/healthz``, ``/readyz``, ``/metrics`` and the dashboard, in one process."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from bumper.errors import ConfigError
from bumper.settings import Settings
from bumper.web import create_app
from tests.sources.helpers import fixture
from tests.web.conftest import (
    OTHER,
    QUEUE,
    SECRET,
    config_for,
    receiver_entry,
    signed,
    start_redis,
)


def _deliver(client: FlaskClient, body: bytes, delivery: str, secret: str = SECRET) -> int:
    headers, _ = signed(
        "github", body, secret, headers={"X-GitHub-Event": "package", "X-GitHub-Delivery": delivery}
    )
    return client.post("/hooks/github", data=body, headers=headers).status_code


def test_health_and_readiness(client: FlaskClient, redis_client: redis.Redis) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json is not None
    assert "github" in ready.json["receivers"]


def test_metrics_count_deliveries_by_receiver_and_result(
    shared_dir: Path, client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = fixture(shared_dir, "github", "package.published.docker.json")[1]
    assert [_deliver(client, body, "m-1"), _deliver(client, body, "m-1")] == [202, 200]
    assert _deliver(client, body, "m-2", OTHER) == 403
    client.post("/hooks/nobody", data=b"{}", content_type="application/json")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'bumper_webhook_deliveries_total{receiver="github",result="accepted"} 1.0' in text
    assert 'bumper_webhook_deliveries_total{receiver="github",result="duplicate"} 1.0' in text
    assert (
        'bumper_webhook_deliveries_total{receiver="_unknown",result="unknown-receiver"} 1.0' in text
    )
    assert 'bumper_webhook_events_total{receiver="github",type="image.pushed"} 1.0' in text
    assert 'bumper_webhook_duration_seconds_count{receiver="github"} 3.0' in text
    assert f'bumper_queue_depth{{queue="{QUEUE}"}} 1.0' in text
    assert "bumper_redis_up 1.0" in text


def test_dashboard_lists_recent_deliveries_without_secrets(
    shared_dir: Path, client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = fixture(shared_dir, "github", "package.published.docker.json")[1]
    _deliver(client, body, "dash-1")
    _deliver(client, body, "dash-1")
    _deliver(client, body, "dash-2", OTHER)
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "dash-1" in html and "ghcr.io/codertocat/hello-world" in html
    for result in ("accepted", "duplicate", "bad-signature"):
        assert result in html
    assert "<strong>1</strong> job(s) waiting" in html
    assert SECRET not in html and OTHER not in html


def test_dashboard_escapes_what_senders_control(
    shared_dir: Path, client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = fixture(shared_dir, "github", "package.published.docker.json")[1]
    assert _deliver(client, body, "<script>alert(1)</script>") == 202
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_dashboard_shows_ignored_deliveries(client: FlaskClient, redis_client: redis.Redis) -> None:
    assert _deliver(client, b'{"zen": "x"}', "ignored-1") == 200
    html = client.get("/").get_data(as_text=True)
    assert "ignored" in html


def test_dashboard_survives_a_redis_outage(client: FlaskClient, redis_server: object) -> None:
    from tests.support.redis_server import RedisServer

    assert isinstance(redis_server, RedisServer)
    redis_server.stop()
    try:
        page = client.get("/")
    finally:
        start_redis(redis_server)
    assert page.status_code == 200
    assert "Redis unreachable" in page.get_data(as_text=True)


def test_missing_secret_fails_at_start_naming_the_variable(settings: Settings) -> None:
    config = config_for(
        [{"name": "gh", "type": "github", "secret": {"env": "BUMPER_TEST_NOT_SET"}}]
    )
    with pytest.raises(ConfigError, match="BUMPER_TEST_NOT_SET is not set"):
        create_app(settings, config)


def test_unknown_sender_type_fails_at_start(settings: Settings, secret_file: Path) -> None:
    config = config_for([receiver_entry("x", "no-such-sender", secret_file)])
    with pytest.raises(ConfigError, match="unknown type 'no-such-sender'"):
        create_app(settings, config)


def test_create_app_reads_the_config_file(
    settings: Settings, tmp_path: Path, secret_file: Path
) -> None:
    path = tmp_path / "bumper.yaml"
    path.write_text(
        "apiVersion: bumper/v1\nreceivers:\n"
        f"  - {{name: a, type: github, secret: {{file: {secret_file}}}}}\n"
    )
    app = create_app(settings.model_copy(update={"config_file": path}))
    assert app.test_client().get("/readyz").json is not None
    missing = settings.model_copy(update={"config_file": tmp_path / "absent.yaml"})
    with pytest.raises(ConfigError):
        create_app(missing)
