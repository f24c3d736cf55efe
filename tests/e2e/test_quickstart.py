"""The README's quickstart, as written, on a fresh checkout: ``make run`` in the background (the
block marked ``<!-- quickstart: background -->``), then every ``<!-- quickstart -->`` block of
README.md and docs/*.md in order, each as a second terminal would run it (tests/docs/blocks.py),
then Ctrl-C: everything stops, with no traceback.

The checkout holds the tracked files, as a clone does, and ``.venv`` links to the installed one
(``make install`` is what ``make test`` runs first; the clone's files keep their times, so
``make run`` finds the install current and does not reinstall). Ports are free ones, given as
``BUMPER_RUN__PORT`` / ``BUMPER_RUN__OPS_PORT``, which the README's commands honour, since
other test runs may hold 8080 on this machine. A block is retried for up to a minute until it
prints what the page shows: the README says the commit appears "a second later".
"""

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

from tests.docs import blocks
from tests.support.redis_server import free_port


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    for name in blocks.shipped_files():
        if not name.startswith("tests/"):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(blocks.REPO_ROOT / name, root / name)
    (root / ".venv").symlink_to(sys.prefix)
    current = subprocess.run(["make", "-q", ".venv/.installed"], cwd=root, capture_output=True)
    assert current.returncode == 0, "the install is not current: run make install first"
    return root


def quickstart_blocks() -> tuple[blocks.Block, list[blocks.Block]]:
    marked = [
        block
        for page in blocks.pages()
        for block in blocks.blocks(page)
        if block.marker == "quickstart"
    ]
    background = [block for block in marked if block.argument == "background"]
    assert len(background) == 1 and background[0].page == "README.md", marked
    return background[0], [block for block in marked if not block.argument]


def wait_for_start(runner: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and runner.poll() is None:
        if "Try it:" in log.read_text():
            return
        time.sleep(0.2)
    raise AssertionError("make run did not start:\n" + log.read_text())


def run_until_shown(block: blocks.Block, root: Path, env: dict[str, str]) -> None:
    for step in blocks.steps(block):
        deadline = time.monotonic() + 60
        while True:
            code, output = blocks.run(step, root, env)
            failure = blocks.check(step, code, output)
            if failure is None or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert failure is None, f"{block.name}: {step.command}{failure}"
        assert "Traceback" not in output, output


@pytest.mark.timeout(400)
def test_the_readme_quickstart_works_as_written_on_a_fresh_clone(
    clone: Path, tmp_path: Path
) -> None:
    background, steps = quickstart_blocks()
    assert [block.page for block in steps][:3] == ["README.md"] * 3
    port, ops_port = free_port(), free_port()
    while ops_port == port:
        ops_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUMPER_")}
    env.update(BUMPER_RUN__PORT=str(port), BUMPER_RUN__OPS_PORT=str(ops_port))
    env["PATH"] = f"{clone / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    log_path = tmp_path / "make-run.log"
    with open(log_path, "w") as log:
        runner = subprocess.Popen(
            ["bash", "-c", background.text],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a terminal's foreground group: Ctrl-C reaches all of it
        )
        try:
            wait_for_start(runner, log_path)
            for block in steps:
                run_until_shown(block, clone, env)
            # the README's curl pushed 1.2.3, newer than send-sample's 1.0.<time>; then
            # docs/dashboard.md's 1.3.0, refused by a hook, then retried
            deployment = (
                clone / ".quickstart" / "config-repo" / "apps" / "hello" / "deployment.yaml"
            )
            deadline = time.monotonic() + 60
            while "hello:1.3.0" not in deployment.read_text() and time.monotonic() < deadline:
                time.sleep(0.5)
            assert "image: registry.example.com/quickstart/hello:1.3.0   # bumped by Bumper" in (
                deployment.read_text()
            )
            # the dashboard is on the operations port only
            assert answers(f"http://127.0.0.1:{ops_port}/")
            assert not answers(f"http://127.0.0.1:{port}/")
        finally:
            os.killpg(runner.pid, signal.SIGINT)  # Ctrl-C in the first terminal
            runner.wait(timeout=90)
    output = log_path.read_text()
    assert "Traceback" not in output, output
    assert f"http://127.0.0.1:{ops_port}/" in output
    assert not answers(f"http://127.0.0.1:{port}/healthz")  # the web process is gone too
    assert not (clone / ".quickstart" / "redis-url").exists()
