"""``/healthz``, ``/readyz``, ``/metrics`` and the dashboard, in one process: the probes on
the public listener (``client``), the rest on the operations listener (``ops_client``), and
the recent deliveries kept apart from refused requests."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from bumper.errors import ConfigError
from bumper.settings import Settings
from bumper.web import create_app, listeners, recent
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


def test_health_and_readiness(
    client: FlaskClient, ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    for listener in (client, ops_client):
        assert listener.get("/healthz").json == {"status": "ok"}
    # The public probe names no receiver and counts nothing; the ops one does.
    assert client.get("/readyz").json == {"status": "ready"}
    ready = ops_client.get("/readyz")
    assert ready.status_code == 200 and ready.json is not None
    assert "github" in ready.json["receivers"] and ready.json["queue_depth"] == 0


def test_ops_routes_are_unknown_on_the_public_listener(
    shared_dir: Path, client: FlaskClient, ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = fixture(shared_dir, "github", "package.published.docker.json")[1]
    assert _deliver(client, body, "listener-1") == 202
    for path in ("/", "/metrics", "/?image=x"):
        public = client.get(path)
        assert public.status_code == 404, path
        assert public.json is not None and public.json["error"] == "not-found"
        assert "ghcr.io" not in public.get_data(as_text=True)
        assert ops_client.get(path).status_code == 200, path
    # And the ops listener takes no deliveries.
    headers, _ = signed("github", body, headers={"X-GitHub-Event": "package"})
    assert ops_client.post("/hooks/github", data=body, headers=headers).status_code == 404


def test_metrics_count_deliveries_by_receiver_and_result(
    shared_dir: Path, client: FlaskClient, ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = fixture(shared_dir, "github", "package.published.docker.json")[1]
    assert [_deliver(client, body, "m-1"), _deliver(client, body, "m-1")] == [202, 200]
    assert _deliver(client, body, "m-2", OTHER) == 403
    client.post("/hooks/nobody", data=b"{}", content_type="application/json")
    text = ops_client.get("/metrics").get_data(as_text=True)
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
    shared_dir: Path, client: FlaskClient, ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = fixture(shared_dir, "github", "package.published.docker.json")[1]
    _deliver(client, body, "dash-1")
    _deliver(client, body, "dash-1")
    _deliver(client, body, "dash-2", OTHER)
    page = ops_client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "dash-1" in html and "ghcr.io/codertocat/hello-world" in html
    deliveries, refused = html.split('id="deliveries"')[1].split('id="refused"')
    for result in ("accepted", "duplicate"):
        assert result in deliveries
    assert "bad-signature" in refused and "bad-signature" not in deliveries
    assert "<strong>1</strong> job(s) waiting" in html
    assert SECRET not in html and OTHER not in html


def test_dashboard_escapes_what_senders_control(
    shared_dir: Path, client: FlaskClient, ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = fixture(shared_dir, "github", "package.published.docker.json")[1]
    assert _deliver(client, body, "<script>alert(1)</script>") == 202
    assert _deliver(client, body, "<script>alert(2)</script>", OTHER) == 403
    html = ops_client.get("/").get_data(as_text=True)
    for n in (1, 2):
        assert f"<script>alert({n})</script>" not in html
        assert f"&lt;script&gt;alert({n})&lt;/script&gt;" in html


def test_dashboard_shows_ignored_deliveries(
    client: FlaskClient, ops_client: FlaskClient, redis_client: redis.Redis
) -> None:
    assert _deliver(client, b'{"zen": "x"}', "ignored-1") == 200
    html = ops_client.get("/").get_data(as_text=True)
    assert "ignored" in html.split('id="deliveries"')[1].split('id="refused"')[0]


def test_forged_requests_cannot_flush_the_recent_deliveries(
    shared_dir: Path,
    client: FlaskClient,
    ops_client: FlaskClient,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    """Issue 13, finding 7: 210 forged requests used to push every accepted row out."""
    body = fixture(shared_dir, "github", "package.published.docker.json")[1]
    assert _deliver(client, body, "kept-1") == 202
    keep = settings.web.recent_deliveries
    assert keep < 210
    for n in range(210):
        assert _deliver(client, body, f"forged-{n}", OTHER) == 403
    for _ in range(5):  # unknown receivers and handshakes need no credential either
        client.post("/hooks/nobody", data=b"{}", content_type="application/json")
        client.options("/hooks/github", headers={"WebHook-Request-Origin": "evil.example"})
    deliveries = recent.read(redis_client, keep)
    assert [(e["delivery_id"], e["result"]) for e in deliveries] == [("kept-1", "accepted")]
    refused = recent.read(redis_client, keep, recent.REFUSED_KEY)
    assert len(refused) == keep  # bounded too
    assert {e["result"] for e in refused} == {
        "bad-signature",
        "unknown-receiver",
        "origin-not-allowed",
    }
    html = ops_client.get("/").get_data(as_text=True)
    assert "kept-1" in html.split('id="deliveries"')[1].split('id="refused"')[0]


def test_dashboard_survives_a_redis_outage(ops_client: FlaskClient, redis_server: object) -> None:
    from tests.support.redis_server import RedisServer

    assert isinstance(redis_server, RedisServer)
    redis_server.stop()
    try:
        page = ops_client.get("/")
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
    assert listeners.ops_app(app).test_client().get("/readyz").json == {
        "status": "ready",
        "receivers": ["a"],
        "queue_depth": 0,
    }
    missing = settings.model_copy(update={"config_file": tmp_path / "absent.yaml"})
    with pytest.raises(ConfigError):
        create_app(missing)


def test_the_recent_list_stays_bounded_and_newest_first(
    shared_dir: Path,
    client: FlaskClient,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    """The intake script trims the list only once it is ``RECENT_SLACK`` entries over the
    bound (one LTRIM per 64 deliveries); readers still see the newest ``recent_deliveries``."""
    from bumper.web.intake import RECENT_KEY, RECENT_SLACK

    body = fixture(shared_dir, "github", "package.published.docker.json")[1]
    assert b'"description": null,' in body
    keep = settings.web.recent_deliveries
    sent = keep + RECENT_SLACK + 3
    for n in range(sent):
        distinct = body.replace(b'"description": null,', f'"description": "d{n}",'.encode())
        assert _deliver(client, distinct, f"bounded-{n}") == 202
    assert _deliver(client, distinct, f"bounded-{sent - 1}") == 200  # the duplicate is listed
    assert redis_client.llen(RECENT_KEY) <= keep + RECENT_SLACK
    shown = recent.read(redis_client, keep)
    assert [e["delivery_id"] for e in shown] == [f"bounded-{sent - 1}"] + [
        f"bounded-{n}" for n in range(sent - 1, sent - keep, -1)
    ]
    assert [e["result"] for e in shown[:2]] == ["duplicate", "accepted"]
    assert shown[1]["events"] and shown[1]["jobs"]
