"""Every misconfiguration a user can make: exit 2 from ``bumper check-config`` and one line at
the start of the process it stops (real gunicorn, real ``bumper worker``), never a traceback.
Redis down is not a misconfiguration: the worker waits, one line per attempt.

Each case is one edit of a valid quickstart-like setup (a local git repo holding the image).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.hello_config import HELLO_RULE, commit_hello
from tests.support.redis_server import RedisServer, free_port, redis_executable

SECRET = "a-harbor-secret-of-32-characters"

RECEIVER_AND_REPO = """\
apiVersion: bumper/v1
receivers:
  - name: hub
    type: harbor
    secret: {env: STARTUP_TEST_SECRET}
    registry: registry.example.com
repos:
  - name: config
    forge: git
    url: ./config-repo
    credentials: {file: repo-token}
"""
VALID = RECEIVER_AND_REPO + HELLO_RULE


@dataclass(frozen=True)
class Case:
    name: str
    old: str
    new: str
    says: str  # in check-config's line and in the start line: the file, key or value
    fix: str  # what to do, in the same lines
    web: bool  # stops the web process
    worker: bool  # stops the worker (else: the worker logs it and runs)


CASES = [
    Case("unset secret", "STARTUP_TEST_SECRET}", "STARTUP_TEST_UNSET}",
         "STARTUP_TEST_UNSET is not set",
         "set STARTUP_TEST_UNSET in the process' environment", web=True, worker=False),
    Case("unreadable secret file", "{file: repo-token}", "{file: no-such-token}",
         "no-such-token", "create no-such-token", web=False, worker=True),
    Case("unknown sender", "type: harbor", "type: harbour",
         "unknown sender type 'harbour'", "use one of acr, ", web=True, worker=False),
    Case("mode the forge can't do", "mode: commit", "mode: pr",
         "mode pr needs pull requests", "set mode: commit, or use forge: github or gitlab",
         web=True, worker=True),
    Case("missing target file", "apps/hello.yaml", "apps/gone.yaml",
         "apps/gone.yaml", "fix the paths or add the file", web=False, worker=False),
    Case("unparsable policy", '">=1.0.0"', '">=1.0.0 <<"',
         "images[0].policy.semver", "write an npm-style range, e.g. '^1.4'",
         web=True, worker=True),
]  # fmt: skip


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    commit_hello(tmp_path / "config-repo", "image: registry.example.com/acme/hello:1.0.0\n")
    (tmp_path / "repo-token").write_text("a-token\n")
    (tmp_path / "bumper.yaml").write_text(VALID)
    return tmp_path


def env_for(setup: Path, redis_url: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUMPER_")}
    return {
        **env,
        "BUMPER_CONFIG_FILE": str(setup / "bumper.yaml"),
        "BUMPER_REDIS_URL": redis_url,
        "BUMPER_LOG__FORMAT": "text",
        "BUMPER_WORKER__CACHE_DIR": str(setup / "cache"),
        "STARTUP_TEST_SECRET": SECRET,
        **more,
    }


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=90)


def gunicorn(setup: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        **env,
        "BUMPER_WEB__BIND": f"127.0.0.1:{free_port()}",
        "BUMPER_WEB__OPS_BIND": f"127.0.0.1:{free_port()}",
        "BUMPER_WEB__WORKERS": "1",
    }
    conf = ["-c", "python:bumper.web.gunicorn_conf", "bumper.web:create_app()"]
    return run([sys.executable, "-m", "gunicorn", *conf], setup, env)


def bumper(setup: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "bumper", *args], setup, env)


def test_the_valid_setup_passes_every_check(setup: Path, redis_server: RedisServer) -> None:
    env = env_for(setup, redis_server.url)
    done = bumper(setup, env, "check-config", "bumper.yaml")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    worker = bumper(setup, env, "worker", "--burst")
    assert worker.returncode == 0 and "error" not in worker.stderr.lower(), worker.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_misconfiguration_is_one_line_everywhere(
    case: Case, setup: Path, redis_server: RedisServer
) -> None:
    config = setup / "bumper.yaml"
    assert case.old in VALID
    config.write_text(VALID.replace(case.old, case.new))
    env = env_for(setup, redis_server.url)

    checked = bumper(setup, env, "check-config", "bumper.yaml")
    assert checked.returncode == 2
    problems = checked.stderr.splitlines()[:-1]
    assert len(problems) == 1 and case.says in problems[0], checked.stderr
    assert case.fix in problems[0], checked.stderr
    assert problems[0].startswith("bumper.yaml:")  # the file and line, then the key

    assert "Traceback" not in checked.stdout + checked.stderr
    if case.web:  # (a web process that starts would serve until stopped)
        web = gunicorn(setup, env)
        assert "Traceback" not in web.stdout + web.stderr
        assert web.returncode == 2
        assert web.stderr.count("\n") == 1 and case.says in web.stderr, web.stderr
        assert case.fix in web.stderr
        assert str(config) in web.stderr  # names the file
    if case.web and not case.worker:
        return  # the worker does not read receivers: it would start and run
    worker = bumper(setup, env, "worker", "--burst")
    assert "Traceback" not in worker.stdout + worker.stderr
    if case.worker:
        assert worker.returncode == 2
        assert worker.stderr.count("\n") == 1 and case.says in worker.stderr, worker.stderr
        assert case.fix in worker.stderr
    else:  # it runs; a problem of its own (a target) is one error line, nothing else
        assert worker.returncode == 0, worker.stderr
        errors = [line for line in worker.stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1 and case.says in errors[0], worker.stderr
        assert case.fix in errors[0]


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not listen on {port}")


def test_a_refused_redis_password_stops_web_and_worker_in_one_line(
    setup: Path, tmp_path: Path
) -> None:
    port = free_port()
    server = subprocess.Popen(
        [redis_executable(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--requirepass", "the-right-password-of-32-bytes!!"],
        stdout=subprocess.DEVNULL,
    )
    try:
        (tmp_path / "redis-password").write_text("a-wrong-password\n")
        env = env_for(
            setup,
            f"redis://127.0.0.1:{port}/0",
            BUMPER_REDIS_PASSWORD_FILE=str(tmp_path / "redis-password"),
        )
        wait_listening(port)
        worker = bumper(setup, env, "worker", "--burst")
        web = gunicorn(setup, env)
    finally:
        server.terminate()
        server.wait()
    for done in (worker, web):
        assert done.returncode == 2
        assert "Traceback" not in done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and "refused the password" in done.stderr
        assert "BUMPER_REDIS_PASSWORD_FILE" in done.stderr
        assert "a-wrong-password" not in done.stderr


def test_redis_down_the_worker_waits_one_line_per_attempt(setup: Path) -> None:
    env = env_for(setup, f"redis://127.0.0.1:{free_port()}/0")
    worker = subprocess.Popen(
        [sys.executable, "-m", "bumper", "worker"],
        cwd=setup,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    lines = [worker.stderr.readline(), worker.stderr.readline()]
    worker.send_signal(signal.SIGTERM)
    _, rest = worker.communicate(timeout=30)
    for number, line in enumerate(lines, start=1):
        assert "waiting for Redis at redis://127.0.0.1:" in line
        assert f"(attempt {number}, next in {2 ** (number - 1)} s)" in line
    assert "Traceback" not in "".join(lines) + rest
