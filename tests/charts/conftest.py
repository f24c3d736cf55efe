"""A real redis-server that demands a password, for the tests that start the charts' processes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.child_processes import die_with_parent
from tests.support.redis_server import free_port, redis_executable
from tests.support.testbed_proc import wait_until

PASSWORD = "redis-password-" + "x" * 17


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [redis_executable(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--dir", str(tmp_path), "--requirepass", PASSWORD],
        stdout=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    try:
        wait_until(lambda: redis.Redis(port=port, password=PASSWORD).ping(), 20, "redis up")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
