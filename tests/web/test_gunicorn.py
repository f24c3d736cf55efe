"""The real gunicorn (``gunicorn_conf``, 2 workers) on a random loopback port: intake,
chunked bodies, metrics summed over workers, JSON logs, a Redis outage, and workers pinned
to CPUs."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
import redis
import requests

from bumper.web import intake
from tests.sources.helpers import fixture
from tests.support.gunicorn_server import GunicornServer
from tests.support.redis_server import RedisServer
from tests.web.conftest import (
    OTHER,
    QUEUE,
    SECRET,
    signed,
    start_redis,
    wait_until_ready,
)


@pytest.fixture
def server(
    tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis, secret_file: Path
) -> Iterator[GunicornServer]:
    config = tmp_path / "bumper.yaml"
    config.write_text(
        "apiVersion: bumper/v1\n"
        "receivers:\n"
        f"  - name: gh\n    type: github\n    secret: {{file: {secret_file}}}\n"
        f"  - name: hub\n    type: dockerhub\n    secret: {{file: {secret_file}}}\n"
        f"    max_body_bytes: 2048\n"
    )
    env = {
        "BUMPER_REDIS_URL": redis_server.url,
        "BUMPER_CONFIG_FILE": str(config),
        "BUMPER_QUEUE_NAME": QUEUE,
        "BUMPER_WEB__RETRY_AFTER_SECONDS": "3",
    }
    gunicorn = GunicornServer(tmp_path / "gunicorn", env, workers=2)
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


def _push(server: GunicornServer, body: bytes, delivery: str) -> requests.Response:
    headers, _ = signed(
        "github", body, headers={"X-GitHub-Event": "package", "X-GitHub-Delivery": delivery}
    )
    return requests.post(f"{server.url}/hooks/gh", data=body, headers=headers, timeout=10)


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == want:
            return float(match.group(2))
    return 0.0


def test_gunicorn_serves_the_intake_end_to_end(
    shared_dir: Path, server: GunicornServer, redis_client: redis.Redis, redis_server: RedisServer
) -> None:
    body = fixture(shared_dir, "github", "package.published.docker.json")[1]
    # Twelve distinct deliveries: a signed body is deduplicated on its hash, so each differs
    # (trailing whitespace keeps the JSON the same).
    bodies = [body + b" " * n for n in range(12)]
    replies = [_push(server, one, f"gun-{n}") for n, one in enumerate(bodies)]
    assert [r.status_code for r in replies] == [202] * 12
    promised = [job for r in replies for job in r.json()["events"]]
    raw_queue = cast(list[bytes], redis_client.lrange(intake.RQ_QUEUE_PREFIX + QUEUE, 0, -1))
    queued = [raw.decode() for raw in raw_queue]
    assert sorted(queued) == sorted(promised)
    assert _push(server, bodies[0], "gun-0").json()["status"] == "duplicate"

    # Chunked body without Content-Length, over the receiver's 2048-byte limit.
    hub = fixture(shared_dir, "dockerhub", "push.json")[1]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", f"/hooks/hub?token={SECRET}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    padded = hub + b" " * 4096
    conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(padded), padded))
    assert conn.getresponse().status == 413
    conn.close()
    # The same payload chunked but within the limit is accepted.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(
        "POST",
        f"/hooks/hub?token={SECRET}",
        body=iter([hub[:100], hub[100:]]),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    assert conn.getresponse().status == 202
    conn.close()
    forged = requests.post(
        f"{server.url}/hooks/hub?token={OTHER}",
        data=hub,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert forged.status_code == 403

    # Metrics add up over both workers.
    metrics = requests.get(f"{server.ops_url}/metrics", timeout=10).text
    assert (
        _metric(metrics, "bumper_webhook_deliveries_total", receiver="gh", result="accepted") == 12
    )
    assert (
        _metric(metrics, "bumper_webhook_deliveries_total", receiver="gh", result="duplicate") == 1
    )
    assert (
        _metric(metrics, "bumper_webhook_deliveries_total", receiver="hub", result="body-too-large")
        == 1
    )
    assert _metric(metrics, "bumper_webhook_duration_seconds_count", receiver="gh") == 13
    assert _metric(metrics, "bumper_queue_depth", queue=QUEUE) == 13
    assert "bumper_redis_up 1.0" in metrics

    # Redis goes away: 503 + Retry-After, readiness fails, liveness does not; then it recovers.
    redis_server.stop()
    outage_body = body + b" " * 20  # not one of the twelve
    try:
        down = _push(server, outage_body, "gun-outage")
        assert (down.status_code, down.headers.get("Retry-After")) == (503, "3")
        assert down.json()["error"] == "redis-unavailable"
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 503
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
        assert "bumper_redis_up 0.0" in requests.get(f"{server.ops_url}/metrics", timeout=10).text
    finally:
        start_redis(redis_server)
    wait_until_ready(lambda: requests.get(f"{server.url}/readyz", timeout=10).status_code)
    again = _push(server, outage_body, "gun-outage")
    assert again.status_code == 202
    assert redis_client.exists("rq:job:" + again.json()["events"][0])

    # JSON log lines carry the delivery id, and never the secret.
    log = server.log()
    assert SECRET not in log and OTHER not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    delivered = [line for line in lines if line.get("message") == "delivery"]
    assert {"gun-0", "gun-11", "gun-outage"} <= {line.get("delivery_id") for line in delivered}
    assert all(line["level"] in ("info", "warning") for line in delivered)


def test_gunicorn_refuses_to_boot_without_the_secret(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text(
        "apiVersion: bumper/v1\nreceivers:\n"
        "  - {name: gh, type: github, secret: {env: BUMPER_TEST_UNSET_SECRET}}\n"
    )
    env = {"BUMPER_REDIS_URL": redis_server.url, "BUMPER_CONFIG_FILE": str(config)}
    gunicorn = GunicornServer(tmp_path / "gunicorn", env, workers=1)
    with pytest.raises(RuntimeError):
        gunicorn.start(timeout=15)
    gunicorn.stop()
    assert "BUMPER_TEST_UNSET_SECRET is not set" in gunicorn.log()


def test_gunicorn_removes_the_metrics_directory_it_made(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\n")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {
        "BUMPER_REDIS_URL": redis_server.url,
        "BUMPER_CONFIG_FILE": str(config),
        "TMPDIR": str(tmpdir),
        # Empty = unset for gunicorn_conf: it makes its own directory under $TMPDIR.
        "PROMETHEUS_MULTIPROC_DIR": "",
    }
    gunicorn = GunicornServer(tmp_path / "gunicorn", env, workers=1)
    gunicorn.start()
    try:
        assert requests.get(f"{gunicorn.ops_url}/metrics", timeout=10).status_code == 200
        made = list(tmpdir.glob("bumper-prometheus-*"))
        assert len(made) == 1 and made[0].is_dir()
    finally:
        gunicorn.stop()
    assert list(tmpdir.glob("bumper-prometheus-*")) == []


def test_gunicorn_logger_builds_no_access_line_while_the_access_log_is_off() -> None:
    from gunicorn.config import Config

    from bumper.web.logs import LOGCONFIG, GunicornLogger

    config = Config()
    config.set("logconfig_dict", LOGCONFIG)
    logger = GunicornLogger(config)
    # Off (LOGCONFIG's gunicorn.access is at WARNING): returns before reading the request.
    access: Callable[..., object] = logger.access  # annotated -> None; checked at runtime here
    assert access(None, None, {}, None) is None
    # On: gunicorn's own access() runs and reads the (here missing) response.
    logger.access_log.setLevel("INFO")
    try:
        with pytest.raises(AttributeError):
            logger.access(None, None, {}, None)
    finally:
        logger.access_log.setLevel("WARNING")


def _workers_affinity(
    gunicorn: GunicornServer, count: int, *, pinned: bool = False
) -> dict[int, set[int]]:
    """Each live worker's CPU affinity, once ``count`` workers run and answer.

    ``pinned``: also wait (until the deadline) for each to be on one CPU: ``/healthz`` may be
    answered by one worker while the newest has not yet run its ``post_fork``. Past the
    deadline the affinities are returned as they are, for the caller's assertion to show."""
    assert gunicorn.process is not None
    master = gunicorn.process.pid
    deadline = time.monotonic() + 30
    while True:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        try:
            found = {int(pid): os.sched_getaffinity(int(pid)) for pid in children}
        except ProcessLookupError:  # a worker exited while we looked
            found = {}
        # Each worker is pinned right after its fork; a moment later it answers requests.
        settled = not pinned or all(len(cpus) == 1 for cpus in found.values())
        if len(found) == count and requests.get(f"{gunicorn.url}/healthz", timeout=5).ok:
            if settled or time.monotonic() > deadline:
                return found
        elif time.monotonic() > deadline:
            raise AssertionError(f"expected {count} workers, found {found}")
        time.sleep(0.1)


def _pinning_server(tmp_path: Path, redis_server: RedisServer, **env: str) -> GunicornServer:
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\n")
    settings = {"BUMPER_REDIS_URL": redis_server.url, "BUMPER_CONFIG_FILE": str(config), **env}
    return GunicornServer(tmp_path / "gunicorn", settings, workers=3)


ALLOWED_CPUS = os.sched_getaffinity(0)
needs_two_cpus = pytest.mark.skipif(
    len(ALLOWED_CPUS) < 2, reason="worker pinning applies only with 2 CPUs or more"
)


@needs_two_cpus
def test_gunicorn_pins_each_worker_to_one_cpu_evenly_and_a_replacement_takes_the_free_one(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    gunicorn = _pinning_server(tmp_path, redis_server)
    gunicorn.start()
    try:
        workers = _workers_affinity(gunicorn, 3, pinned=True)

        def assert_balanced(affinities: dict[int, set[int]]) -> None:
            assert all(len(cpus) == 1 for cpus in affinities.values()), affinities
            load = Counter(next(iter(cpus)) for cpus in affinities.values())
            assert set(load) <= ALLOWED_CPUS
            assert len(load) == min(3, len(ALLOWED_CPUS))
            assert max(load.values()) - min(load.values()) <= 1, load

        assert_balanced(workers)
        # Kill a worker on the most loaded CPU: its replacement goes back to that CPU.
        load = Counter(next(iter(cpus)) for cpus in workers.values())
        busiest = load.most_common(1)[0][0]
        victim = next(pid for pid, cpus in workers.items() if cpus == {busiest})
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while victim in (replaced := _workers_affinity(gunicorn, 3, pinned=True)):
            assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
            time.sleep(0.1)
        assert_balanced(replaced)
    finally:
        gunicorn.stop()


@pytest.mark.parametrize(
    "setting",
    [
        {"BUMPER_WEB__PIN_WORKERS": "false"},
        # One app thread per worker: the GIL passes only to the event loop; not pinned either.
        {"BUMPER_WEB__THREADS": "1"},
    ],
    ids=["pinning-off", "one-thread"],
)
def test_gunicorn_leaves_workers_unpinned(
    tmp_path: Path, redis_server: RedisServer, setting: dict[str, str]
) -> None:
    gunicorn = _pinning_server(tmp_path, redis_server, **setting)
    gunicorn.start()
    try:
        workers = _workers_affinity(gunicorn, 3)
        assert all(cpus == ALLOWED_CPUS for cpus in workers.values()), workers
    finally:
        gunicorn.stop()
