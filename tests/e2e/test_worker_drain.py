"""SIGTERM drains the worker (issue 15 item 6): a real ``bumper worker`` given SIGTERM while its
bump job is mid-push (the config repo's pre-receive hook holds the push) finishes that job (RQ's
warm shutdown): the commit lands, the job is finished, the worker exits 0, with no traceback.
SIGTERM goes to the worker's own process only, as Kubernetes sends it to a container's PID 1.
A second signal, however soon after the first, is RQ's cold shutdown: the job is abandoned."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from bumper import rqjobs
from tests.e2e.stack import CONFIG_REPO, DEPLOY, START, Stack, repo_block
from tests.e2e.test_flows import image_rule
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def stack(tmp_path: Path, redis_server: RedisServer, forgesim: ForgeSim) -> Iterator[Stack]:
    forgesim.create_repo(CONFIG_REPO, {DEPLOY: START})
    built = Stack(
        tmp_path, redis_server, forgesim, repo_block(forgesim, "github") + image_rule("commit")
    )
    built.start()
    yield built
    built.stop()


def test_sigterm_mid_job_finishes_the_job_then_exits_cleanly(
    stack: Stack, forgesim: ForgeSim, tmp_path: Path
) -> None:
    pushing = tmp_path / "pushing"
    hook = forgesim.repo(CONFIG_REPO).git.path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ntouch {pushing}\nsleep 3\nexit 0\n")
    hook.chmod(0o755)
    stack.push("1.3.0")
    stack.wait("the push to start", pushing.exists)
    assert stack.worker is not None
    stack.worker.send_signal(signal.SIGTERM)
    assert stack.worker.wait(timeout=60) == 0, stack.logs()
    assert "ghcr.io/acme/api:1.3.0" in stack.file("main"), stack.logs()
    bumps = rqjobs.bump_queue_name(stack.queue)
    assert len(FinishedJobRegistry(bumps, connection=stack.redis)) == 1
    assert len(FailedJobRegistry(bumps, connection=stack.redis)) == 0
    text = stack.worker_text()
    assert "Traceback" not in text, text[-3000:]
    # the signal arrived mid-job: RQ's warm shutdown was asked for before the bump completed
    requested = text.index("warm shut down requested")
    assert requested < text.index("Successfully completed bump api/0")
    assert "Cold shut down" not in text


def test_a_second_signal_soon_after_the_first_cold_stops_the_worker(
    stack: Stack, forgesim: ForgeSim, tmp_path: Path
) -> None:
    # RQ ignored a second signal within 1 s of the first (its WorkerPool's duplicate): a quick
    # double Ctrl-C or SIGTERM left the worker waiting for the job (here: two minutes)
    pushing = tmp_path / "pushing"
    hook = forgesim.repo(CONFIG_REPO).git.path / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ntouch {pushing}\nsleep 120\nexit 0\n")
    hook.chmod(0o755)
    stack.push("1.3.0")
    stack.wait("the push to start", pushing.exists)
    assert stack.worker is not None
    stack.worker.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    stack.worker.send_signal(signal.SIGINT)  # Ctrl-C, or a second SIGTERM: the same handler
    stack.worker.wait(timeout=30)
    text = stack.worker_text()
    assert "cold shut down" in text and "killed horse" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert "ghcr.io/acme/api:1.3.0" not in stack.file("main")
