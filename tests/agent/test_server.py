"""The agent's HTTP side over a real socket: probes, metrics, and the push webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from bumper.agent import server, status

SECRET = "hook-secret"


@pytest.fixture
def agent_http() -> Iterator[tuple[str, threading.Event, status.Metrics, list[float]]]:
    woken = threading.Event()
    metrics = status.Metrics()
    last = [0.0]
    http = server.AgentServer(
        ("127.0.0.1", 0),
        metrics=metrics.render,
        trigger=woken.set,
        last_pass=lambda: last[0],
        branch="main",
        secret=SECRET,
        stale_after=60,
    )
    http.serve_in_thread()
    yield f"http://127.0.0.1:{http.server_address[1]}", woken, metrics, last
    http.shutdown()


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push"}


def test_probes_follow_the_loop(
    agent_http: tuple[str, threading.Event, status.Metrics, list[float]],
) -> None:
    base, _, _, last = agent_http
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 503
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    last[0] = time.time()
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
    last[0] = time.time() - 3600  # the loop is stuck
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 503


def test_metrics_text(agent_http: tuple[str, threading.Event, status.Metrics, list[float]]) -> None:
    base, _, metrics, _ = agent_http
    metrics.inc("bumper_agent_syncs_total", result="ok")
    metrics.set("bumper_agent_commit_info", 1, commit="abc")
    text = requests.get(f"{base}/metrics", timeout=5).text
    assert 'bumper_agent_syncs_total{result="ok"} 1' in text
    assert "# TYPE bumper_agent_commit_info gauge" in text


def test_push_webhook(agent_http: tuple[str, threading.Event, status.Metrics, list[float]]) -> None:
    base, woken, _, _ = agent_http
    body = json.dumps({"ref": "refs/heads/main", "after": "f" * 40}).encode()
    bad = requests.post(f"{base}/hooks/git", data=body, headers=signed(b"other"), timeout=5)
    assert bad.status_code == 403 and not woken.is_set()
    other = json.dumps({"ref": "refs/heads/dev"}).encode()
    ignored = requests.post(f"{base}/hooks/git", data=other, headers=signed(other), timeout=5)
    assert ignored.status_code == 202 and "ignored" in ignored.json() and not woken.is_set()
    ok = requests.post(f"{base}/hooks/git", data=body, headers=signed(body), timeout=5)
    assert ok.status_code == 202 and ok.json()["sync"] == "queued"
    assert woken.is_set()
    assert requests.post(f"{base}/hooks/other", data=b"{}", timeout=5).status_code == 404


def test_push_webhook_statuses_missing_401_forged_403(
    agent_http: tuple[str, threading.Event, status.Metrics, list[float]],
) -> None:
    """The receivers' rule: 401 when no credential is sent, 403 when it is wrong."""
    base, woken, _, _ = agent_http
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    url = f"{base}/hooks/git"
    missing = requests.post(url, data=body, headers={"X-GitHub-Event": "push"}, timeout=5)
    forged = requests.post(url, data=body, headers=signed(b"other"), timeout=5)
    token = {"X-Gitlab-Token": "not-the-secret", "X-Gitlab-Event": "Push Hook"}
    wrong_token = requests.post(url, data=body, headers=token, timeout=5)
    assert (missing.status_code, forged.status_code, wrong_token.status_code) == (401, 403, 403)
    assert missing.json()["error"] == "missing-credential"
    assert (forged.json()["error"], wrong_token.json()["error"]) == ("bad-signature", "bad-token")
    for reply in (missing, forged, wrong_token):
        assert SECRET not in reply.text
    assert not woken.is_set()
