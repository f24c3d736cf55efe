"""The worker's liveness file (worker.alive), the evidence of charts/bumper's worker probes: a
real ``bumper worker --alive-file`` on a real Redis keeps rewriting it, also while Redis is
gone (the loop that waits Redis out is alive), and ``bumper worker --check-alive`` passes on it
and fails, with one line, on a missing, foreign or overdue file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.child_processes import die_with_parent
from tests.support.redis_server import RedisServer
from worker import alive

pytestmark = pytest.mark.timeout(300)


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bumper", "worker", "--check-alive", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_for(what: str, condition: Callable[[], bool], worker: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120  # a hang guard: a busy machine starts Python slowly
    while not condition():
        assert worker.poll() is None, f"the worker exited while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within two minutes"
        time.sleep(0.1)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")  # this test takes it away
    server.start()
    yield server
    server.stop()


def test_a_running_worker_rewrites_the_file_also_while_redis_is_down(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\n")
    path = tmp_path / "worker-alive"
    env = {
        **os.environ,
        "BUMPER_CONFIG_FILE": str(config),
        "BUMPER_REDIS_URL": own_redis.url,
        # heartbeats every 3 s while idle (the blocking dequeue's timeout)
        "BUMPER_WORKER__ABANDONED_AFTER_SECONDS": "3",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "bumper", "worker", "--alive-file", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent,
    )
    try:
        wait_for("liveness file", path.exists, worker)
        done = check(path)
        assert (done.returncode, done.stderr) == (0, "")
        # "alive until T": T is the slack past the heartbeat's time, rounded to the second
        until = int(path.read_text().split()[2])
        assert 0 < until - time.time() <= alive.slack(3) + 0.5
        own_redis.stop()
        first = path.read_text()
        wait_for("rewrite with Redis down", lambda: path.read_text() != first, worker)
        second = path.read_text()
        wait_for("second rewrite with Redis down", lambda: path.read_text() != second, worker)
        assert check(path).returncode == 0
        # RQ's warm shutdown waits for Redis to come back (its dequeue retries until then)
        own_redis.start()
    finally:
        worker.terminate()
        _, errors = worker.communicate(timeout=120)
    # a warm shutdown: the liveness file never made the worker fail
    assert worker.returncode == 0
    # the outage is told in lines, none a traceback: RQ's dequeue retries, and the scheduler
    # process (worker.rqscheduler) that the outage ended
    assert "Traceback" not in errors, errors
    assert "scheduler: Redis unreachable (ConnectionError)" in errors, errors


def test_the_check_fails_with_one_line_without_a_live_worker(tmp_path: Path) -> None:
    path = tmp_path / "worker-alive"
    missing = check(path)
    assert missing.returncode == 1
    assert missing.stderr == f"bumper worker: {path}: No such file or directory: " + (
        "the worker has not beaten yet\n"
    )
    alive.touch(path, due_in=120, now=time.time() - 300)  # due three minutes ago
    overdue = check(path)
    assert overdue.returncode == 1
    assert overdue.stderr.startswith(f"bumper worker: {path}: the worker's last heartbeat is 1")
    assert overdue.stderr.endswith("s overdue\n") and len(overdue.stderr.splitlines()) == 1
    path.write_text("hello\n")
    foreign = check(path)
    assert foreign.returncode == 1 and "not a liveness file" in foreign.stderr
    alive.touch(path, due_in=120)
    assert check(path).returncode == 0


def test_the_slack_covers_the_longest_gap_between_heartbeats() -> None:
    assert alive.slack(3) == 120  # RQ's Redis retry cap dominates a short abandoned_after
    assert alive.slack(300) == 600
    assert alive.problem(Path("/nonexistent/x"), now=0) is not None


def test_an_unwritable_liveness_file_is_a_warning_not_a_stop(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    from worker.rqworker import BumpWorker

    connection = redis.Redis.from_url(redis_server.url)
    worker = BumpWorker(
        [], abandoned_after=3, alive_file=tmp_path / "missing-dir" / "alive", connection=connection
    )
    worker.heartbeat()  # RQ's own heartbeat still reaches Redis
    assert connection.hget(worker.key, "last_heartbeat")
    assert "liveness file" in caplog.text and "No such file or directory" in caplog.text
    worker.alive_file = tmp_path / "alive"
    worker.heartbeat()
    assert alive.problem(tmp_path / "alive") is None


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00binary\n",  # a binary file named by mistake: no UnicodeDecodeError
        "alive until ²\n".encode(),  # a digit to str.isdigit, none to int()
        b"alive until " + b"9" * 5000 + b"\n",  # past int()'s digit limit
    ],
    ids=["binary", "unicode-digit", "huge-number"],
)
def test_a_foreign_file_is_one_problem_never_an_exception(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "worker-alive"
    path.write_bytes(content)
    assert alive.problem(path, now=0) == (
        f"{path}: not a liveness file (expected 'alive until <unix time>')"
    )
