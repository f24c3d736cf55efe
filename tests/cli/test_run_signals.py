"""``bumper run`` (``make run``) stopped by Ctrl-C or a closed terminal (SIGHUP): no traceback,
the URL file for the CLI comes and goes, and the scheduler lock is released, so the next start's
RQ scheduler is not held back by a stale one (real processes on a copy of the checkout)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "examples", root / "examples")
    return root


def start(root: Path) -> tuple[subprocess.Popen[str], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUMPER_")}
    env.update(BUMPER_RUN__PORT=str(free_port()), BUMPER_RUN__OPS_PORT=str(free_port()))
    process = subprocess.Popen(
        [sys.executable, "-m", "bumper", "run"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal's foreground group: Ctrl-C reaches all of it
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Try it:"):
            return process, lines
    process.kill()
    raise AssertionError("bumper run did not start:\n" + "".join(lines))


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "hangup"])
def test_a_stop_leaves_no_traceback_and_no_scheduler_lock(
    checkout: Path, stop: signal.Signals
) -> None:
    process, lines = start(checkout)
    url_file = checkout / ".quickstart" / "redis-url"
    url = url_file.read_text().strip()
    banner = "".join(lines)
    assert url in banner and "cli        " in banner and "bumper log" in banner
    # the CLI finds this Redis with no URL (none is logged yet: exit 1, not 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUMPER_")}
    logged = subprocess.run(
        [sys.executable, "-m", "bumper", "log"], cwd=checkout, env=env, capture_output=True
    )
    assert logged.returncode == 1 and b"no decisions logged" in logged.stderr
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 60
    while not list(client.scan_iter("rq:scheduler-lock:*")) and time.monotonic() < deadline:
        time.sleep(0.2)  # the worker's scheduler takes its lock shortly after start
    client.close()
    os.killpg(process.pid, stop)
    rest, _ = process.communicate(timeout=90)
    output = banner + rest
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert not url_file.exists()
    # Redis' data as the next start finds it: no scheduler lock left behind
    server = RedisServer(checkout / ".quickstart" / "redis")
    server.start()
    try:
        again = redis.Redis.from_url(server.url)
        assert list(again.scan_iter("rq:scheduler-lock:*")) == []
        again.close()
    finally:
        server.stop()
