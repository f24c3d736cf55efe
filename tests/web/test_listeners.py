"""The two listeners under the real gunicorn: operations routes only on ``OPS_BIND``.

Issue 13, finding 7: the dashboard and ``/metrics`` were served on the public hooks listener.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bumper.errors import ConfigError
from bumper.settings import load
from tests.support.gunicorn_server import GunicornServer
from tests.support.redis_server import RedisServer

OPS_ROUTES = ("/", "/metrics", "/?image=web")


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[GunicornServer]:
    tmp = tmp_path_factory.mktemp("listeners")
    secret = tmp / "secret"
    secret.write_text("a-long-enough-receiver-secret\n")
    config = tmp / "bumper.yaml"
    config.write_text(
        "apiVersion: bumper/v1\nreceivers:\n"
        f"  - {{name: gh, type: github, secret: {{file: {secret}}}}}\n"
    )
    env = {"BUMPER_REDIS_URL": redis_server.url, "BUMPER_CONFIG_FILE": str(config)}
    gunicorn = GunicornServer(tmp / "gunicorn", env, workers=1)
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


def test_ops_routes_answer_404_on_the_public_listener(server: GunicornServer) -> None:
    for path in OPS_ROUTES:
        reply = requests.get(server.url + path, timeout=10)
        assert reply.status_code == 404, path
        assert reply.json()["error"] == "not-found"
        assert "bumper_" not in reply.text and "/hooks/gh" not in reply.text
    # Naming the ops port in Host (or any header) changes nothing: the socket decides.
    spoofed = {"Host": f"127.0.0.1:{server.ops_port}", "X-Forwarded-Port": str(server.ops_port)}
    assert requests.get(server.url + "/metrics", headers=spoofed, timeout=10).status_code == 404
    # The probes stay public (kubelets reach them), and say nothing about receivers or queues.
    assert requests.get(server.url + "/healthz", timeout=10).json() == {"status": "ok"}
    assert requests.get(server.url + "/readyz", timeout=10).json() == {"status": "ready"}


def test_the_ops_listener_serves_dashboard_and_metrics_but_no_hooks(
    server: GunicornServer,
) -> None:
    page = requests.get(server.ops_url + "/", timeout=10)
    assert page.status_code == 200 and "/hooks/gh" in page.text
    metrics = requests.get(server.ops_url + "/metrics", timeout=10)
    assert metrics.status_code == 200 and "bumper_redis_up 1.0" in metrics.text
    ready = requests.get(server.ops_url + "/readyz", timeout=10).json()
    assert ready["receivers"] == ["gh"]
    hook = requests.post(server.ops_url + "/hooks/gh", json={}, timeout=10)
    assert hook.status_code == 404


def test_ops_bind_must_not_share_the_public_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUMPER_WEB__BIND", "0.0.0.0:8000")
    monkeypatch.setenv("BUMPER_WEB__OPS_BIND", "127.0.0.1:8000")
    with pytest.raises(ConfigError, match="OPS_BIND must not use the same port"):
        load()
    monkeypatch.setenv("BUMPER_WEB__OPS_BIND", "nonsense")
    with pytest.raises(ConfigError, match="BUMPER_WEB__OPS_BIND: .*host:port"):
        load()
    monkeypatch.setenv("BUMPER_WEB__OPS_BIND", "")
    assert load().web.ops_bind == ""


def test_without_an_ops_listener_the_ops_routes_are_nowhere(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\n")
    env = {
        "BUMPER_REDIS_URL": redis_server.url,
        "BUMPER_CONFIG_FILE": str(config),
        "BUMPER_WEB__OPS_BIND": "",
    }
    gunicorn = GunicornServer(tmp_path / "gunicorn", env, workers=1)
    gunicorn.start()
    try:
        assert requests.get(gunicorn.url + "/metrics", timeout=10).status_code == 404
        with pytest.raises(requests.ConnectionError):
            requests.get(gunicorn.ops_url + "/metrics", timeout=10)
    finally:
        gunicorn.stop()
