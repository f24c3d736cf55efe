"""SIGHUP (a closed terminal, ``kill -HUP``) to the real processes: ``bumper worker`` logs one
line and goes on working; gunicorn re-forks its workers and goes on serving. Neither dies, and
neither prints a traceback. ``bumper run`` is in tests/cli/test_run_signals.py."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis
from rq import Worker
from rq.job import Job

from bumper import rqjobs
from bumper.core import events
from tests.support.gunicorn_server import GunicornServer
from tests.support.redis_server import RedisServer

T = TypeVar("T")
CONFIG = "apiVersion: bumper/v1\n"


def wait_for(what: str, probe: Callable[[], T], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def pushed(tag: str) -> dict[str, object]:
    """An image push no rule of ``CONFIG`` wants: its job routes it to nothing and succeeds."""
    event = events.ImageEvent(
        type="image.pushed",
        image="ghcr.io/acme/unwatched",
        tag=tag,
        source="test",
        delivery_id=f"d-{tag}",
        received_at=1.0,
    )
    return events.to_dict(event)


def test_sighup_to_the_worker_is_one_line_and_it_goes_on(
    tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUMPER_")}
    env.update(
        BUMPER_REDIS_URL=redis_server.url,
        BUMPER_CONFIG_FILE=str(config),
        BUMPER_QUEUE_NAME="hangup-test",
        BUMPER_WORKER__CACHE_DIR=str(tmp_path / "cache"),
        BUMPER_LOG__FORMAT="text",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "bumper", "worker", "--no-scheduler"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal's: the hangup reaches all of it
    )
    try:
        wait_for("the worker", lambda: Worker.count(connection=redis_client) == 1)
        queue = rqjobs.queue("hangup-test", redis_client)
        for tag in ("1.0.0", "1.0.1"):  # twice: a handler that stays, not a one-off
            os.killpg(worker.pid, signal.SIGHUP)
            job = queue.enqueue("worker.jobs.handle_event", pushed(tag))
            wait_for("a job after the hangup", functools.partial(finished, job))
        assert worker.poll() is None  # still running
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "Traceback" not in out + err
    hangups = [line for line in err.splitlines() if "SIGHUP" in line]
    assert len(hangups) == 2, err
    assert all(line.endswith("bumper.worker: SIGHUP: ignored; bumper.yaml is re-read before "
                             "each job when it changes") for line in hangups)  # fmt: skip


def finished(job: Job) -> bool:
    return bool(job.get_status(refresh=True) == "finished")


def children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return bool(reply.status == 200)


def test_sighup_to_gunicorn_re_forks_its_workers_and_it_goes_on_serving(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text(CONFIG)
    server = GunicornServer(
        tmp_path / "web",
        {"BUMPER_REDIS_URL": redis_server.url, "BUMPER_CONFIG_FILE": str(config)},
        workers=2,
    )
    server.start()
    try:
        assert server.process is not None
        master = server.process.pid
        wait_for("two workers", lambda: len(children(master)) == 2)
        before = children(master)
        server.process.send_signal(signal.SIGHUP)

        def replaced() -> bool:
            now = children(master)
            return len(now) == 2 and now.isdisjoint(before)

        wait_for("two new workers", replaced)
        for _ in range(4):  # either new worker, on both listeners
            assert answers(server.url + "/healthz") and answers(server.ops_url + "/metrics")
        assert server.process.poll() is None
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log
    assert "Hang up: Master" in log, log[-2000:]  # gunicorn's own line: it reloaded
