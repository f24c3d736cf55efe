"""The whole product for end-to-end tests: real gunicorn (``bumper.web:create_app()``), a real
``bumper worker`` process (RQ, forking, with its scheduler), a real Redis, and the forge
simulator serving the config repo over git smart HTTP and the GitHub/GitLab APIs.

Webhooks are sent the way GitHub sends them: ``X-Hub-Signature-256`` HMAC over the raw body.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bumper import redisconn
from bumper.settings import Settings
from tests.support.child_processes import die_with_parent
from tests.support.forgesim import ForgeSim
from tests.support.gunicorn_server import GunicornServer
from tests.support.redis_server import RedisServer
from tests.support.sentinel import SentinelGroup

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-hook-secret-0123456789"
CONFIG_REPO = "acme/config"
DEPLOY = "apps/api/deploy.yaml"
START = (
    "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
    "        - name: api\n          image: ghcr.io/acme/api:1.0.0  # bumped by bumper\n"
)


def repo_block(sim: ForgeSim, forge: str) -> str:
    """The ``repos:`` entry for the simulated config repo on ``forge``."""
    api = sim.github_api_url if forge == "github" else sim.gitlab_url
    return (
        "repos:\n"
        "  - name: config\n"
        f"    forge: {forge}\n"
        f"    url: {sim.url}/{CONFIG_REPO}\n"
        f"    api_url: {api}\n"
        "    credentials: {env: E2E_FORGE_TOKEN}\n"
    )


class Stack:
    """Start with ``start()``; ``stop()`` always (tests use the ``stack`` fixture)."""

    def __init__(
        self,
        workdir: Path,
        redis_server: RedisServer | SentinelGroup,
        sim: ForgeSim,
        config: str,
        *,
        settings: dict[str, str] | None = None,
        scheduler: bool = True,
        extra_receivers: str = "",
    ) -> None:
        self.workdir = workdir
        self.sim = sim
        # a Sentinel group's URL too (tests/support/sentinel.py): the product's own factory
        self.redis = redisconn.connect(
            Settings(redis_url=redis_server.url), redisconn.Role.WORKER, timeout=5
        )
        self.redis.flushdb()
        self.queue = f"e2e-{uuid.uuid4().hex[:8]}"
        config_file = workdir / "bumper.yaml"
        receivers = (
            "apiVersion: bumper/v1\n"
            "receivers:\n"
            "  - name: gh\n"
            "    type: github\n"
            "    secret: {env: E2E_HOOK_SECRET}\n"
            "    scope: {repos: [acme/api]}\n"
            + extra_receivers  # more list items (a bench's registry receiver)
        )
        config_file.write_text(receivers + config)
        self.env = {
            "BUMPER_REDIS_URL": redis_server.url,
            "BUMPER_CONFIG_FILE": str(config_file),
            "BUMPER_QUEUE_NAME": self.queue,
            "BUMPER_WORKER__CACHE_DIR": str(workdir / "cache"),
            "BUMPER_WORKER__RETRY_BASE_SECONDS": "1",
            # RQ's per-job lines ("Job OK (<id>)") are what the crash tests wait for; they are
            # quiet by default (BUMPER_LOG__RQ_LEVEL=WARNING)
            "BUMPER_LOG__RQ_LEVEL": "INFO",
            "E2E_HOOK_SECRET": SECRET,
            "E2E_FORGE_TOKEN": sim.token,
            **(settings or {}),
        }
        self.web = GunicornServer(workdir / "web", self.env, workers=1)
        self.scheduler = scheduler
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_log = workdir / "worker.log"

    def start(self) -> Stack:
        self.web.start()
        self.start_worker()
        return self

    def start_worker(self) -> None:
        args = [sys.executable, "-m", "bumper", "worker", "--log-level", "DEBUG"]
        if not self.scheduler:
            args.append("--no-scheduler")
        log = open(self.worker_log, "ab")  # noqa: SIM115 - lives as long as the worker
        self.worker = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def stop(self) -> None:
        if self.worker is not None:
            # RQ: a first SIGTERM is a warm shutdown, a second one a cold one.
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGTERM, 5), (signal.SIGKILL, 30)):
                if self.worker.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.worker.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.worker.wait(timeout=wait)
        self.web.stop()

    def worker_text(self) -> str:
        return self.worker_log.read_text(errors="replace") if self.worker_log.exists() else ""

    def logs(self) -> str:
        """The tails of both logs, for failure messages."""
        return f"--- worker\n{self.worker_text()[-6000:]}\n--- web\n{self.web.log()[-3000:]}"

    # -- webhooks ------------------------------------------------------------------------

    def post(self, event: str, payload: dict[str, Any], base_url: str | None = None) -> int:
        """Send a signed GitHub webhook to ``/hooks/gh`` (of ``base_url``, a second web
        replica, instead of the stack's own); the HTTP status."""
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            f"{base_url or self.web.url}/hooks/gh",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": signature,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def push(self, tag: str, image: str = "ghcr.io/acme/api") -> None:
        """A GHCR package push of ``image:tag``; asserts it was accepted."""
        status = self.post("package", package_payload(image, tag))
        assert status == 202, f"push {tag}: HTTP {status}\n{self.logs()}"

    def build(self, sha: str, conclusion: str, repository: str = "acme/api") -> None:
        """A GitHub Actions ``workflow_run`` that completed on ``main`` at ``sha``."""
        payload = {
            "action": "completed",
            "workflow_run": {
                "name": "build",
                "head_sha": sha,
                "head_branch": "main",
                "status": "completed",
                "conclusion": conclusion,
                "html_url": f"https://ci.example/runs/{sha[:7]}",
            },
            "repository": {"full_name": repository},
        }
        status = self.post("workflow_run", payload)
        assert status == 202, f"build {sha}: HTTP {status}\n{self.logs()}"

    # -- observing -----------------------------------------------------------------------

    def wait(self, what: str, check: Callable[[], Any], timeout: float = 40.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.worker is not None and self.worker.poll() is not None:
                raise AssertionError(f"the worker died while waiting for {what}\n{self.logs()}")
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.logs()}")

    def changes(self) -> list[Any]:
        with self.sim.lock:
            return list(self.sim.repo(CONFIG_REPO).changes.values())

    def file(self, ref: str, path: str = DEPLOY) -> str:
        return self.sim.repo(CONFIG_REPO).git.read_file(ref, path) or ""

    def commits(self, ref: str = "main") -> int:
        from tests.support.forgesim.gitstore import git

        return int(git(self.sim.repo(CONFIG_REPO).git.path, "rev-list", "--count", ref))


def package_payload(image: str, tag: str) -> dict[str, Any]:
    """GitHub's ``package`` webhook body for a push of ``image:tag`` (from repository acme/api)."""
    name = image.rsplit("/", 1)[-1]
    digest = "sha256:" + hashlib.sha256(f"{image}:{tag}".encode()).hexdigest()
    return {
        "action": "published",
        "package": {
            "package_type": "CONTAINER",
            "name": name,
            "package_version": {
                "version": digest,
                "package_url": f"{image}:{tag}",
                "container_metadata": {"tag": {"name": tag, "digest": digest}},
            },
        },
        "repository": {"full_name": "acme/api"},
    }
