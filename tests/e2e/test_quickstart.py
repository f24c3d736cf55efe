"""The quickstart contract: ``bumper run`` (what ``make run`` runs) on a copy of
``examples/quickstart``, then ``send-sample.sh``, then a new commit in
``.quickstart/config-repo``; SIGINT stops everything."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.redis_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def git_log(repo: Path) -> list[str]:
    done = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s|%an"], capture_output=True, text=True
    )
    return done.stdout.splitlines() if done.returncode == 0 else []


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@pytest.mark.timeout(180)
def test_make_run_then_send_sample_commits_and_ctrl_c_stops_all(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    shutil.copytree(REPO_ROOT / "examples" / "quickstart", root / "examples" / "quickstart")
    port = free_port()
    ops_port = free_port()
    while ops_port == port:
        ops_port = free_port()
    env = {**os.environ, "BUMPER_RUN__PORT": str(port), "BUMPER_RUN__OPS_PORT": str(ops_port)}
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed below
    runner = subprocess.Popen(
        [sys.executable, "-m", "bumper", "run"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    repo = root / ".quickstart" / "config-repo"
    try:
        sent = subprocess.run(
            [str(root / "examples" / "quickstart" / "send-sample.sh")],
            env={**env, "TAG": "1.4.2"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr + (tmp_path / "run.log").read_text()
        assert "accepted" in sent.stdout
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(git_log(repo)) < 2:
            time.sleep(0.2)
        assert git_log(repo)[0] == "Bump hello to 1.4.2|bumper", (tmp_path / "run.log").read_text()
        deployment = (repo / "apps" / "hello" / "deployment.yaml").read_text()
        assert (
            "image: registry.example.com/quickstart/hello:1.4.2   # bumped by Bumper" in deployment
        )
        assert f"http://127.0.0.1:{port}/hooks/quickstart" in (tmp_path / "run.log").read_text()
        # The dashboard is on the operations port only.
        assert answers(f"http://127.0.0.1:{ops_port}/")
        assert not answers(f"http://127.0.0.1:{port}/")
        assert f"http://127.0.0.1:{ops_port}/" in (tmp_path / "run.log").read_text()
    finally:
        runner.send_signal(signal.SIGINT)
        code = runner.wait(timeout=60)
        log.close()
    assert code == 0
    assert not answers(f"http://127.0.0.1:{port}/healthz")  # the web process is gone too
