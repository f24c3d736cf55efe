"""Run the real gunicorn with ``bumper.web.gunicorn_conf`` on a random loopback port.

Used by the web tests and by ``bench/ingest.py``. The app spec is a gunicorn app string
(``bumper.web:create_app()`` by default); settings go in as ``BUMPER_*`` environment
variables, exactly as in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.child_processes import die_with_parent
from tests.support.redis_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class GunicornServer:
    def __init__(
        self,
        workdir: Path,
        env: dict[str, str],
        app: str = "bumper.web:create_app()",
        workers: int = 2,
        args: tuple[str, ...] = (),
    ) -> None:
        """``args``: more gunicorn flags, which override the config (``-k gthread``)."""
        self.workdir = workdir
        self.args = args
        self.port = free_port()
        self.ops_port = free_port()
        while self.ops_port == self.port:
            self.ops_port = free_port()
        self.app = app
        self.env = {
            **os.environ,
            "BUMPER_WEB__BIND": f"127.0.0.1:{self.port}",
            "BUMPER_WEB__OPS_BIND": f"127.0.0.1:{self.ops_port}",
            "BUMPER_WEB__WORKERS": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
            **env,
        }
        self.log_path = workdir / "gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        """The operations listener: dashboard, ``/metrics``, detailed ``/readyz``."""
        return f"http://127.0.0.1:{self.ops_port}"

    def start(self, ready_path: str = "/healthz", timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "prometheus").mkdir(exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the server
        args = [sys.executable, "-m", "gunicorn", "-c", "python:bumper.web.gunicorn_conf"]
        args += [*self.args, self.app]
        self.process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=1) as reply:
                    if reply.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer on {self.url}: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> GunicornServer:
        """Started; stopped when the block ends, however it ends."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
