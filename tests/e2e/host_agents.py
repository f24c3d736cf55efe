"""Pull agents as host processes against the test bed, woken by the forge's push webhook.

``HookingForge`` is the forge simulator plus GitHub's push webhook to every registered agent
after each push to ``main`` (as a forge would deliver it), with when ``main`` moved and when
each agent answered 202. ``host_agent`` runs ``bumper agent`` as its own process with the admin
kubeconfig (the workloads it applies run on the cluster's nodes, the real one included) and
stops it on exit. Used by bench/push_to_healthy.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.e2e.stack import CONFIG_REPO
from tests.support.forgesim import ForgeSim
from tests.support.forgesim.model import SimRepo
from tests.support.testbed_cluster import BedCluster
from tests.support.testbed_proc import REPO_ROOT, wait_until

HOOK_SECRET = "host-agents-webhook-secret-0123456789"


class HookingForge(ForgeSim):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.agent_urls: list[str] = []
        self.commits: dict[str, float] = {}  # sha -> when main moved to it (monotonic)
        self.hooked: dict[str, float] = {}  # sha -> when the first agent answered 202
        self._last = ""

    def after_push(self, repo: SimRepo) -> None:
        super().after_push(repo)
        sha = repo.git.sha("main") or ""
        if not sha or sha == self._last:
            return
        self._last = sha
        self.commits[sha] = time.monotonic()
        for url in list(self.agent_urls):
            threading.Thread(target=self._deliver, args=(url, sha), daemon=True).start()

    def _deliver(self, url: str, sha: str) -> None:
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        mac = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={mac}",
        }
        request = urllib.request.Request(f"{url}/hooks/git", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                if reply.status == 202:
                    self.hooked.setdefault(sha, time.monotonic())
        except OSError:
            pass  # the agent's interval pass catches up


@contextmanager
def host_agent(
    cluster: BedCluster,
    sim: HookingForge,
    workdir: Path,
    config: dict[str, Any],
    *,
    webhook: bool = True,
) -> Iterator[str]:
    """``bumper agent`` with ``config`` (``name``, ``namespace``, ``paths``, ...) on top of
    the clone URL, token, kubeconfig, listener and webhook secret; yields its URL."""
    name = str(config["name"])
    port = free_port()
    (workdir / f"{name}-git-token").write_text(sim.token)
    (workdir / f"{name}-hook").write_text(HOOK_SECRET)
    full = {
        "repo_url": sim.clone_url(CONFIG_REPO),
        "git_token_file": str(workdir / f"{name}-git-token"),
        "kubeconfig": str(cluster.kubeconfig),
        "listen": f"127.0.0.1:{port}",
        "webhook_secret_file": str(workdir / f"{name}-hook"),
        "cache_dir": str(workdir / f"{name}-cache-{port}"),
        **config,
    }
    file = workdir / f"agent-{name}-{port}.yaml"
    file.write_text(json.dumps(full))
    with (workdir / f"agent-{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bumper", "agent", "--config", str(file)],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/healthz"), 60, f"the agent {name}'s /healthz")
        if webhook:
            sim.agent_urls.append(url)
        yield url
    finally:
        if url in sim.agent_urls:
            sim.agent_urls.remove(url)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def agent_logs(workdir: Path, chars: int = 3000) -> str:
    """The tail of each agent's log, for a failure's report."""
    return "\n".join(
        f"----- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
        for p in sorted(workdir.glob("agent-*.log"))
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
