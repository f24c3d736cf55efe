"""A real CNCF distribution registry (plain HTTP on loopback) and ``crane`` to push into it.

The registry's notifications endpoint is the URL the test passes, so a test can watch the real
envelope (``NOTIFY_MEDIA_TYPE``) that a push produces.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

from tests.support.testbed_proc import Proc, ProcessDied, free_port, http_get, tail, wait_until

# distribution v3 sends v2 envelopes (v2.x sent ...events.v1+json); same JSON shape.
NOTIFY_MEDIA_TYPE = "application/vnd.docker.distribution.events.v2+json"


class Registry:
    def __init__(
        self,
        bins: Path,
        workdir: Path,
        notify_url: str | None = None,
        notify_headers: dict[str, str] | None = None,
        auth: dict[str, object] | None = None,
    ) -> None:
        self.bin_dir = bins
        self.auth = auth  # the registry's ``auth:`` section (htpasswd, token), see registry_auth
        self.workdir = workdir
        self.port = free_port()
        self.notify_url = notify_url
        self.notify_headers = notify_headers or {}
        self.proc: Proc | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``: the registry part of image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def crane_path(self) -> Path:
        return self.bin_dir / "crane"

    @property
    def log(self) -> Path:
        return self.workdir / "logs" / "registry.log"

    def _config(self) -> str:
        # The registry reads YAML; JSON is YAML, and keeps this free of a YAML writer.
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": os.urandom(16).hex()},
        }
        if self.auth:
            config["auth"] = self.auth
        if self.notify_url:
            config["notifications"] = {
                "events": {"includereferences": True},
                "endpoints": [
                    {
                        "name": "test",
                        "url": self.notify_url,
                        "headers": {k: [v] for k, v in self.notify_headers.items()},
                        "timeout": "2s",
                        "threshold": 5,
                        "backoff": "1s",
                    }
                ],
            }
        return json.dumps(config, indent=2)

    def start(self, attempts: int = 3) -> None:
        """Start on a free port; take another if someone grabbed it first."""
        for attempt in range(1, attempts + 1):
            try:
                self._start()
                return
            except ProcessDied as exc:
                if attempt == attempts or "address already in use" not in str(exc):
                    raise
                self.port = free_port()

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "config.yml"
        cfg.write_text(self._config())
        self.proc = Proc(
            "registry",
            [str(self.bin_dir / "registry"), "serve", str(cfg)],
            self.workdir / "logs",
            # v3 wires OpenTelemetry; with no collector it would only log export errors.
            env={"OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "true"},
        )
        proc = self.proc

        def up() -> bool:
            proc.check_alive()
            return http_get(f"{self.url}/v2/", timeout=2).status_code in (200, 401)

        wait_until(up, 30, "registry /v2/")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def crane(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run crane with an empty docker config (never the user's credentials)."""
        docker_config = self.workdir / "docker-config"
        docker_config.mkdir(exist_ok=True)
        proc = subprocess.run(
            [str(self.crane_path), *args],
            env={**os.environ, "DOCKER_CONFIG": str(docker_config)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"crane {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def push_image(self, repository: str, tag: str, content: bytes | None = None) -> str:
        """Push a one-layer image built from scratch; returns its manifest digest."""
        layer = self.workdir / f"layer-{os.urandom(4).hex()}.tar"
        data = content if content is not None else os.urandom(64)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("hello.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        layer.write_bytes(buf.getvalue())
        ref = f"{self.host}/{repository}:{tag}"
        self.crane("append", "--insecure", "-f", str(layer), "-t", ref)
        return self.crane("digest", "--insecure", ref).stdout.strip()

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)
