"""What every chaos scenario uses: the real product on one machine, a counting sender, and
the invariants checked at the end.

``Fleet`` is the product: gunicorn (``tests/e2e/stack.Stack``'s), several ``bumper worker``
processes (each with RQ's scheduler: RQ's own lock lets one of them run it), a Redis or a
Sentinel group, and the forge simulator serving ``repos`` config repos over git smart HTTP,
each with ``images_per_repo`` images in commit mode. Image ``svc<i>`` lives in
``apps/svc<i>/deploy.yaml`` of repo ``acme/cfg<i mod repos>`` at ``1.0.0``.

``Sender`` is a webhook sender as the product expects one: a 503 or a refused connection is
retried after ``Retry-After``; every reply is counted. A delivery is the pair (image, tag);
tags only grow per image, so the newest accepted tag is what the file must end up holding
(a 200 "duplicate" for a retry counts as accepted: an earlier try was queued).

``Result`` is one row of the table: deliveries accepted, bumps expected (images with an
accepted tag), bumps made (those whose file holds the newest accepted tag), duplicates (two
commits or PRs for one image and tag), lost (expected minus made), 5xx other than 503, and
tracebacks in the logs.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rq import Worker

from bumper import rqjobs
from bumper.core import changes
from tests.e2e.stack import Stack, package_payload
from tests.support.forgesim import ForgeSim
from tests.support.forgesim.gitstore import git
from tests.support.redis_server import RedisServer
from tests.support.sentinel import SentinelGroup

START = (
    "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
    "        - name: app\n          image: ghcr.io/acme/{name}:1.0.0  # bumped by bumper\n"
)


@dataclass
class Result:
    scenario: str
    accepted: int = 0
    expected: int = 0
    bumped: int = 0
    duplicates: int = 0
    lost: int = 0
    errors_5xx: int = 0
    refused_503: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.errors_5xx or self.problems)


def image_name(index: int) -> str:
    return f"svc{index}"


def repo_name(index: int, repos: int) -> str:
    return f"acme/cfg{index % repos}"


def fleet_config(
    sim: ForgeSim, images: int, repos: int, mode: str = "commit", git_url: str | None = None
) -> str:
    """``git_url``: where the repos are cloned and pushed (a ``TcpGate`` in front of the
    simulator); the API stays on the simulator."""
    lines = ["repos:"]
    for r in range(repos):
        lines += [
            f"  - name: cfg{r}",
            "    forge: github",
            f"    url: {git_url or sim.url}/acme/cfg{r}",
            f"    api_url: {sim.github_api_url}",
            "    credentials: {env: E2E_FORGE_TOKEN}",
        ]
    lines.append("images:")
    for i in range(images):
        lines += [
            f"  - name: {image_name(i)}",
            f"    image: ghcr.io/acme/{image_name(i)}",
            '    policy: {semver: "^1.0"}',
            "    targets:",
            f"      - repo: cfg{i % repos}",
            f'        paths: ["apps/{image_name(i)}/**"]',
            f"        mode: {mode}",
        ]
    return "\n".join(lines) + "\n"


class Fleet(Stack):
    """The product with ``workers`` RQ workers; ``start()``, then ``stop()`` always."""

    def __init__(
        self,
        workdir: Path,
        redis_server: RedisServer | SentinelGroup,
        sim: ForgeSim,
        *,
        images: int = 4,
        repos: int = 1,
        workers: int = 2,
        web_workers: int = 2,
        mode: str = "commit",
        settings: dict[str, str] | None = None,
        git_url: str | None = None,
        files: dict[str, str] | None = None,
    ) -> None:
        """``files``: more files in every config repo (to give the repos a realistic size)."""
        for r in range(repos):
            deploys = {
                f"apps/{image_name(i)}/deploy.yaml": START.format(name=image_name(i))
                for i in range(images)
                if i % repos == r
            }
            sim.create_repo(f"acme/cfg{r}", {**(files or {}), **deploys})
        base = {
            "BUMPER_WORKER__ABANDONED_AFTER_SECONDS": "3",
            "BUMPER_WORKER__COALESCE_SECONDS": "1",
            "BUMPER_WORKER__RETRY_CAP_SECONDS": "2",
            "BUMPER_WORKER__LOCK_WAIT_SECONDS": "5",
            "BUMPER_WEB__RETRY_AFTER_SECONDS": "1",
            "BUMPER_LOG__RQ_LEVEL": "INFO",
        }
        super().__init__(
            workdir,
            redis_server,
            sim,
            fleet_config(sim, images, repos, mode, git_url),
            settings={**base, **(settings or {})},
        )
        self.web.env["BUMPER_WEB__WORKERS"] = str(web_workers)
        self.images, self.repos, self.worker_count, self.mode = images, repos, workers, mode
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self) -> Fleet:
        self.web.start()
        for _ in range(self.worker_count):
            self.start_worker()
        return self

    def start_worker(self) -> None:
        super().start_worker()
        assert self.worker is not None
        self.workers.append(self.worker)

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def bumping_pids(self) -> set[int]:
        """PIDs of the workers whose current RQ job is a bump run (not a polling tick or an
        event routing job, which another worker may be running at the same moment)."""
        pids: set[int] = set()
        for rq_worker in Worker.all(
            connection=self.redis, job_class=rqjobs.BumperJob, serializer=rqjobs.JobSerializer
        ):
            job = rq_worker.get_current_job()
            if job is not None and str(job.func_name).endswith("run_bump") and rq_worker.pid:
                pids.add(rq_worker.pid)
        return pids

    def kill_worker_with_horse(self) -> bool:
        """SIGKILL the worker that is running a bump, parent first (it cannot notice), then
        its work horse (in a process group of its own); False if no worker was bumping."""
        bumping = self.bumping_pids()
        for worker in self.live_workers():
            children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
            if not children or worker.pid not in bumping:
                continue
            os.killpg(worker.pid, signal.SIGKILL)
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(child), signal.SIGKILL)
            worker.wait(10)
            return True
        return False

    def stop(self) -> None:
        # RQ: a first SIGTERM is a warm shutdown, a second one a cold one; all at once
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGTERM, 5), (signal.SIGKILL, 30)):
            for worker in self.live_workers():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, sig)
            for worker in self.live_workers():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(timeout=wait)
        self.web.stop()

    def wait(self, what: str, check: Any, timeout: float = 40.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.2)
        return None

    # -- what the forge holds ----------------------------------------------------------

    def ref_of(self, index: int) -> str:
        """Where a bump of image ``index`` lands: main, or its PR's branch."""
        if self.mode == "commit":
            return "main"
        name = image_name(index)
        return changes.branch_name(f"cfg{index % self.repos}", f"{name}/0", f"ghcr.io/acme/{name}")

    def current_tag(self, index: int) -> str | None:
        text = self.sim.repo(repo_name(index, self.repos)).git.read_file(
            self.ref_of(index), f"apps/{image_name(index)}/deploy.yaml"
        )
        found = re.search(rf"ghcr\.io/acme/{image_name(index)}:([0-9.]+)", text or "")
        return found.group(1) if found else None

    def duplicates(self) -> int:
        """Commits (commit mode) or PRs (PR modes) that repeat one already made."""
        if self.mode == "commit":
            subjects = Counter(self.commit_subjects())
            return sum(n - 1 for s, n in subjects.items() if s.startswith("Bump ") and n > 1)
        heads: Counter[str] = Counter()
        with self.sim.lock:
            for r in range(self.repos):
                heads.update(c.head for c in self.sim.repo(f"acme/cfg{r}").changes.values())
        return sum(n - 1 for n in heads.values() if n > 1)

    def commit_subjects(self) -> list[str]:
        subjects: list[str] = []
        for r in range(self.repos):
            path = self.sim.repo(f"acme/cfg{r}").git.path
            subjects += git(path, "log", "--format=%s", "main").splitlines()
        return subjects

    def logs_with_tracebacks(self) -> list[str]:
        found = []
        if "Traceback" in self.worker_text():
            found.append("traceback in a worker log")
        if "Traceback" in self.web.log():
            found.append("traceback in the web log")
        return found


class Sender:
    """Sends deliveries like a patient sender; counts every reply."""

    def __init__(
        self, fleet: Fleet, *, patience: float = 60.0, urls: list[str] | None = None
    ) -> None:
        """``urls``: web replicas to spread attempts over, in turn (as a load balancer does;
        a retry goes to the next one); the fleet's own web when None."""
        self.fleet = fleet
        self.urls = urls or [fleet.web.url]
        self.turn = 0
        self.patience = patience
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.accepted: dict[int, list[str]] = {}
        self.unsent: list[tuple[int, str]] = []

    def send(self, index: int, tag: str) -> int:
        """Deliver ``svc<index>:<tag>`` until a final answer (not 503, no refused connection)."""
        payload = package_payload(f"ghcr.io/acme/{image_name(index)}", tag)
        deadline = time.monotonic() + self.patience
        while True:
            with self.lock:
                url = self.urls[self.turn % len(self.urls)]
                self.turn += 1
            try:
                status = self.fleet.post("package", payload, base_url=url)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                status = 0  # the connection was refused or dropped: a sender retries
            with self.lock:
                self.statuses[status] += 1
                # 200 "duplicate": an earlier try was written (its reply lost, or a 503
                # because replicas were late); the delivery is queued all the same
                if status in (200, 202):
                    self.accepted.setdefault(index, []).append(tag)
            if status not in (0, 503):
                return status
            if time.monotonic() > deadline:
                with self.lock:
                    self.unsent.append((index, tag))
                return status
            time.sleep(1.0)

    @property
    def count_accepted(self) -> int:
        return self.statuses[202]

    @property
    def count_5xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500 and s != 503)

    def expected(self) -> dict[int, str]:
        """The newest accepted tag per image."""
        return {i: max(tags, key=_version) for i, tags in self.accepted.items()}


def _version(tag: str) -> tuple[int, ...]:
    return tuple(int(part) for part in tag.split("."))


def settle(fleet: Fleet, sender: Sender, timeout: float = 120.0) -> dict[int, str]:
    """Wait until every image holds its newest accepted tag, then until the queues are empty."""
    expected = sender.expected()

    def done() -> bool:
        return all(fleet.current_tag(i) == tag for i, tag in expected.items())

    fleet.wait("every accepted tag bumped", done, timeout=timeout)
    fleet.wait("the queues empty", lambda: _idle(fleet), timeout=30)
    return expected


def _idle(fleet: Fleet) -> bool:
    """No job queued or running, and no target with a pending bump (``worker.store``'s
    ``bump:<target>`` state lives until its job finished, even when its worker died)."""
    from rq import Queue
    from rq.registry import StartedJobRegistry

    if any(True for _ in fleet.redis.scan_iter("bumper:bump:*", count=1000)):
        return False
    for name in (fleet.queue, f"{fleet.queue}-bumps"):
        queue = Queue(name, connection=fleet.redis)
        if queue.count or StartedJobRegistry(queue=queue).count:
            return False
    return True


def judge(name: str, fleet: Fleet, sender: Sender, expected: dict[int, str]) -> Result:
    """The invariants, as one table row."""
    result = Result(name, accepted=sender.count_accepted, expected=len(expected))
    result.bumped = sum(1 for i, tag in expected.items() if fleet.current_tag(i) == tag)
    result.lost = result.expected - result.bumped
    result.duplicates = fleet.duplicates()
    result.errors_5xx = sender.count_5xx
    result.refused_503 = sender.statuses[503]
    result.problems += fleet.logs_with_tracebacks()
    if sender.unsent:
        result.problems.append(f"{len(sender.unsent)} deliveries never accepted")
    return result
