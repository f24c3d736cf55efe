"""The Redis password comes from a file, never from ``BUMPER_REDIS_URL`` (issue 13, item 11).

A URL is inherited by every child process through the environment (git, gpg, kubectl) and is
copied into messages; ``BUMPER_REDIS_PASSWORD_FILE`` is read once. Against a real redis-server
that requires a password, the receiver's client, ``bumper log`` and a ``bumper worker`` process
(and the jobs it runs) authenticate with the file; a URL with the password is refused at start
with one line that does not quote it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bumper import cli, rqjobs, settings
from bumper.core import events
from bumper.errors import ConfigError
from bumper.web import app, intake
from tests.support.child_processes import die_with_parent
from tests.support.redis_server import free_port, redis_executable

PASSWORD = "redis-5ecret-9f8e7d"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server that requires PASSWORD; its URL, without the password."""
    port = free_port()
    process = subprocess.Popen(
        [redis_executable(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--dir", str(tmp_path), "--requirepass", PASSWORD],
        stdout=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, password=PASSWORD)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "redis-password"
    path.write_text(PASSWORD + "\n")
    return path


def test_a_redis_url_with_a_password_is_refused_without_quoting_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BUMPER_REDIS_URL", f"redis://:{PASSWORD}@127.0.0.1:6379/0")
    with pytest.raises(ConfigError) as refused:
        settings.load()
    assert "BUMPER_REDIS_URL" in str(refused.value) and PASSWORD not in str(refused.value)
    assert "BUMPER_REDIS_PASSWORD_FILE" in str(refused.value)
    assert cli.main(["log"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and PASSWORD not in err


def test_web_log_and_worker_authenticate_with_the_password_file(
    tmp_path: Path,
    locked_redis: str,
    password_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\n")
    env = {
        "BUMPER_REDIS_URL": locked_redis,
        "BUMPER_CONFIG_FILE": str(config),
        "BUMPER_WORKER__CACHE_DIR": str(tmp_path / "cache"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["log"]) == 2  # no password: NOAUTH, one line
    assert "cannot read the decision log" in capsys.readouterr().err
    monkeypatch.setenv("BUMPER_REDIS_PASSWORD_FILE", str(password_file))
    current = settings.load()
    assert cli.main(["log"]) == 1  # read (and empty): authenticated
    assert "no decisions logged" in capsys.readouterr().err
    client = app.make_redis(current)
    event = events.ImageEvent(type="image.pushed", image="ghcr.io/acme/api", tag="1.0.0")
    box = intake.Intake(client, current.queue_name, current.web, job_timeout=60)
    (job_id,) = box.submit("gh", "id:1", [events.to_dict(event)], "{}", "{}").job_ids
    done = subprocess.run(
        [sys.executable, "-m", "bumper", "worker", "--burst", "--no-scheduler"],
        cwd=ROOT,
        env={**os.environ, **env, "BUMPER_REDIS_PASSWORD_FILE": str(password_file)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert rqjobs.BumperJob.fetch(job_id, connection=client).get_status() == "finished"
    assert PASSWORD not in done.stderr + done.stdout
