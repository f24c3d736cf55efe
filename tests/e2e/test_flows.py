"""End to end, for GitHub and GitLab: a signed webhook → gunicorn → Redis/RQ → ``bumper
worker`` → a commit, PR or MR in the forge simulator (real git over smart HTTP, the forges'
REST APIs through PyGithub / python-gitlab, unmodified)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bumper import decisions
from bumper.core import changes
from tests.e2e.stack import CONFIG_REPO, DEPLOY, START, Stack, repo_block
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer

FORGES = ["github", "gitlab"]
BRANCH = changes.branch_name("config", "api/0", "ghcr.io/acme/api")

pytestmark = pytest.mark.timeout(150)


def image_rule(mode: str, *, policy: str = '{semver: "^1.0"}', gate: str = "") -> str:
    return (
        "images:\n"
        "  - name: api\n"
        "    image: ghcr.io/acme/api\n"
        f"    policy: {policy}\n"
        f"{gate}"
        "    labels: [bump]\n"
        "    targets:\n"
        "      - repo: config\n"
        '        paths: ["apps/api/**"]\n'
        f"        mode: {mode}\n"
    )


MakeStack = Callable[..., Stack]


@pytest.fixture
def make_stack(
    tmp_path: Path, redis_server: RedisServer, forgesim: ForgeSim
) -> Iterator[MakeStack]:
    started: list[Stack] = []
    forgesim.create_repo(CONFIG_REPO, {DEPLOY: START})

    def make(forge: str, images: str, **kwargs: Any) -> Stack:
        stack = Stack(
            tmp_path, redis_server, forgesim, repo_block(forgesim, forge) + images, **kwargs
        )
        started.append(stack)
        return stack.start()

    yield make
    for stack in started:
        stack.stop()


def open_prs(stack: Stack) -> list[Any]:
    return [c for c in stack.changes() if c.state == "open"]


@pytest.mark.parametrize("forge", FORGES)
def test_automerge(forge: str, make_stack: MakeStack) -> None:
    stack = make_stack(forge, image_rule("pr-automerge"))
    stack.push("1.3.0")
    merged = stack.wait(
        "the PR merged", lambda: [c for c in stack.changes() if c.state == "merged"]
    )
    assert len(merged) == 1 and len(stack.changes()) == 1
    assert merged[0].head == BRANCH and merged[0].labels == ["bump"]
    assert "ghcr.io/acme/api:1.3.0  # bumped by bumper" in stack.file("main")


@pytest.mark.parametrize("forge", FORGES)
def test_supersede_two_pushes_give_one_pr_with_the_newest_tag(
    forge: str, make_stack: MakeStack
) -> None:
    stack = make_stack(forge, image_rule("pr"))
    stack.push("1.1.0")
    [first] = stack.wait("a PR", lambda: open_prs(stack))
    assert "1.1.0" in first.title
    stack.push("1.2.0")
    stack.wait("the PR updated", lambda: "1.2.0" in open_prs(stack)[0].title)
    [pr] = stack.changes()  # one PR, ever
    assert pr.number == first.number and pr.head == BRANCH
    assert "| `1.1.0` → `1.2.0` |" not in pr.body and "`1.0.0` → `1.2.0`" in pr.body
    assert "ghcr.io/acme/api:1.2.0" in stack.file(BRANCH)
    assert stack.file("main") == START


@pytest.mark.parametrize("forge", FORGES)
def test_ci_gate_holds_the_push_until_its_build_succeeds(forge: str, make_stack: MakeStack) -> None:
    gate = "    gate: {ci: github, repository: acme/api}\n"
    policy = '{semver: "^1.0", prerelease: true}'
    stack = make_stack(forge, image_rule("commit", policy=policy, gate=gate))
    good, bad = "4f2a9c1" + "0" * 33, "bad0bad" + "1" * 33
    stack.push(f"1.5.0-{good[:7]}")
    stack.push(f"1.6.0-{bad[:7]}")
    journal = decisions.DecisionLog(stack.redis)
    held = stack.wait(
        "two held pushes", lambda: len([d for d in journal.recent() if d["result"] == "held"]) == 2
    )
    assert held and stack.commits() == 1
    stack.build(bad, "failure")
    stack.build(good, "success")
    stack.wait("the gated bump", lambda: f"1.5.0-{good[:7]}" in stack.file("main"))
    stack.wait(
        "the failed build's verdict",
        lambda: any("CI failure" in d["why"] for d in journal.recent()),
    )
    assert stack.commits() == 2  # the failed revision was never bumped


@pytest.mark.parametrize("forge", FORGES)
def test_coalescing_fifty_pushes_give_one_commit(forge: str, make_stack: MakeStack) -> None:
    stack = make_stack(
        forge, image_rule("commit"), settings={"BUMPER_WORKER__COALESCE_SECONDS": "3"}
    )
    tags = [f"1.{minor}.{patch}" for minor in range(1, 6) for patch in range(10)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(stack.push, reversed(tags)))
    stack.wait("the bump commit", lambda: stack.commits() == 2)
    assert "ghcr.io/acme/api:1.5.9  # bumped by bumper" in stack.file("main")
    journal = decisions.DecisionLog(stack.redis)
    stack.wait(
        "50 verdicts", lambda: len([d for d in journal.recent(limit=200) if d["target"]]) >= 50
    )
    assert stack.commits() == 2


@pytest.mark.parametrize("forge", FORGES)
def test_crash_mid_job_is_retried_and_gives_exactly_one_pr(
    forge: str, make_stack: MakeStack, forgesim: ForgeSim
) -> None:
    arrived, release = hold_pr_creation(forgesim, forge)
    stack = make_stack(forge, image_rule("pr"), scheduler=False)
    stack.push("1.7.0")
    assert arrived.wait(40), stack.logs()
    assert stack.worker is not None
    horse = work_horse(stack.worker.pid)
    os.kill(horse, signal.SIGKILL)
    release.set()  # the request the dead worker sent still completes on the forge
    # The routing job logged its own "Job OK" before the crash, and the released request made
    # the PR: only the bump job's "Job OK" shows that its re-run finished.
    bump_ok = f"{stack.queue}-bumps: Job OK (bump-"
    stack.wait("the retried job to finish", lambda: bump_ok in stack.worker_text())
    [pr] = stack.changes()
    assert pr.state == "open" and "1.7.0" in pr.title and pr.head == BRANCH
    assert "ghcr.io/acme/api:1.7.0" in stack.file(BRANCH)
    assert "Work-horse terminated unexpectedly" in stack.worker_text()


@pytest.mark.parametrize("forge", FORGES)
def test_crash_of_the_whole_worker_mid_job_is_rerun_by_a_new_worker_as_one_pr(
    forge: str, make_stack: MakeStack, forgesim: ForgeSim
) -> None:
    """Nobody survives to see the crash: the job is only re-run once a new worker finds it
    abandoned (its lease in RQ's started registry expired) and RQ's cleanup re-enqueues it."""
    arrived, release = hold_pr_creation(forgesim, forge)
    # the job timeout (and so the repo lock's expiry) stays at its default of 600 s on purpose:
    # only the crash detection is shortened, so the re-run must not wait for the lock to expire
    stack = make_stack(
        forge,
        image_rule("pr"),
        scheduler=False,
        settings={"BUMPER_WORKER__ABANDONED_AFTER_SECONDS": "3"},
    )
    stack.push("1.7.0")
    assert arrived.wait(40), stack.logs()
    dead = stack.worker
    assert dead is not None
    horse = work_horse(dead.pid)
    # the parent first, so that it cannot notice its horse dying; the horse runs in a process
    # group of its own (RQ calls setpgrp in it), so killing the worker's group spares it
    os.killpg(dead.pid, signal.SIGKILL)
    os.killpg(horse, signal.SIGKILL)
    dead.wait(10)
    release.set()  # the request the dead horse sent still completes on the forge
    stack.scheduler = True
    stack.start_worker()
    abandoned = "abandoned by its worker, re-running it"
    bump_ok = f"{stack.queue}-bumps: Job OK (bump-"
    stack.wait(
        "the abandoned job re-run by the new worker",
        lambda: bump_ok in stack.worker_text().partition(abandoned)[2],
        timeout=60,
    )
    [pr] = stack.changes()
    assert pr.state == "open" and "1.7.0" in pr.title and pr.head == BRANCH
    assert "ghcr.io/acme/api:1.7.0" in stack.file(BRANCH)
    before, _, after = stack.worker_text().partition(abandoned)
    assert "Work-horse terminated unexpectedly" not in before  # nobody saw the horse die
    assert "enqueued for retry" in after  # RQ's own cleanup put it back on the queue
    assert "took over the lock of repo 'config'" in after  # not waiting 600 s for it to expire


def hold_pr_creation(forgesim: ForgeSim, forge: str) -> tuple[threading.Event, threading.Event]:
    """Hold the forge's PR/MR-create request until ``release`` is set; ``arrived`` is set once
    it came: the worker is then mid-job (branch pushed, repo locked, PR being created)."""
    arrived, release = threading.Event(), threading.Event()
    original = forgesim.handle
    create = "/pulls" if forge == "github" else "/merge_requests"

    def handle(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Any:
        if method == "POST" and raw_path.split("?")[0].endswith(create) and not release.is_set():
            arrived.set()
            release.wait(30)
        return original(method, raw_path, headers, body)

    forgesim.handle = handle  # type: ignore[method-assign]
    return arrived, release


def work_horse(worker_pid: int) -> int:
    """The forked child running the job (started with --no-scheduler: the only child)."""
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


@pytest.mark.parametrize("forge", FORGES)
def test_429_storm_is_honoured_and_finishes(
    forge: str, make_stack: MakeStack, forgesim: ForgeSim
) -> None:
    api = r"/api/v3/" if forge == "github" else r"/api/v4/"
    forgesim.inject(429, api, times=5, retry_after=1)
    # backoff doubles per retry; capping it keeps six retries quick (the forge's wait still wins)
    stack = make_stack(
        forge, image_rule("pr-automerge"), settings={"BUMPER_WORKER__RETRY_CAP_SECONDS": "2"}
    )
    stack.push("1.8.0")
    stack.wait(
        "the PR merged after the storm",
        lambda: [c for c in stack.changes() if c.state == "merged"],
        timeout=90,
    )
    assert len(stack.changes()) == 1
    limited = forgesim.requests(path=api)
    assert sum(1 for r in limited if r.status == 429) == 5
    assert "transient (rate_limited)" in stack.worker_text()
    assert "ghcr.io/acme/api:1.8.0" in stack.file("main")
