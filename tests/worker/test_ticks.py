"""The polling and promotion ticks are scheduled only when bumper.yaml needs them: a tick with
nothing to do still forks a work horse (every 10 s, it kept a worker busy for nothing). A real
``bumper worker --burst`` (with its scheduler) on a real Redis shows what a worker's start
schedules; a worker's maintenance round starts the tick once an edited bumper.yaml polls."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bumper import rqjobs, settings
from bumper.cli.worker import make_worker
from tests.support.redis_server import RedisServer
from worker import context, jobs

QUEUE = "bumper-ticks-test"
REPO_ROOT = Path(__file__).resolve().parents[2]
POLLED = textwrap.dedent(
    """\
    registries:
      - {host: "registry.local:5000", plain_http: true, poll: 1m}
    """
)
PIPELINE = textwrap.dedent(
    """\
    pipelines:
      - name: web
        image: registry.local:5000/acme/web
        policy: {semver: "^1"}
        environments:
          - name: dev
            agent: dev
            targets: [{repo: config, paths: ["dev/**"], mode: commit}]
          - name: prod
            targets: [{repo: config, paths: ["prod/**"], mode: commit}]
    agents:
      - {name: dev, token: {file: dev-agent-token}}
    """
)


def write_config(tmp: Path, extra: str = "") -> Path:
    bare = tmp / "config.git"
    if not bare.exists():
        subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    config = tmp / "bumper.yaml"
    (tmp / "dev-agent-token").write_text("ticks-dev-agent-token-0123456789\n")
    config.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: bumper/v1
            repos:
              - {{name: config, forge: git, url: "{bare}"}}
            images:
              - name: api
                image: registry.local:5000/acme/api
                policy: {{semver: "^1"}}
                targets: [{{repo: config, paths: ["apps/**"], mode: commit}}]
            """
        )
        + extra
    )
    return config


@pytest.fixture
def env(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    values = {
        "BUMPER_REDIS_URL": redis_server.url,
        "BUMPER_CONFIG_FILE": str(tmp_path / "bumper.yaml"),
        "BUMPER_QUEUE_NAME": QUEUE,
        "BUMPER_WORKER__CACHE_DIR": str(tmp_path / "cache"),
        # far-off slots: a tick scheduled here is never due while the test looks
        "BUMPER_WORKER__POLL_TICK_SECONDS": "3600",
        "BUMPER_WORKER__PROMOTION_TICK_SECONDS": "3600",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    context.current.cache_clear()
    yield values
    context.current.cache_clear()


def scheduled(client: redis.Redis) -> list[str]:
    return sorted(rqjobs.queue(QUEUE, client).scheduled_job_registry.get_job_ids())


def start_worker(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bumper", "worker", "--burst"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_worker_schedules_no_tick_when_nothing_polls_and_no_pipeline_exists(
    tmp_path: Path, env: dict[str, str], redis_client: redis.Redis
) -> None:
    write_config(tmp_path)
    start_worker(env)
    assert scheduled(redis_client) == []


def test_a_worker_schedules_the_ticks_its_config_needs(
    tmp_path: Path, env: dict[str, str], redis_client: redis.Redis
) -> None:
    write_config(tmp_path, POLLED + PIPELINE)
    start_worker(env)
    ticks = scheduled(redis_client)
    assert [t.split("-")[0] for t in ticks] == ["poll", "promotion"], ticks
    worker = make_worker(settings.load(), redis_client, ticks=True)
    worker.run_maintenance_tasks()  # another worker, or a later round: still one tick each
    assert scheduled(redis_client) == ticks


def test_a_tick_with_nothing_left_to_poll_schedules_no_next_one(
    tmp_path: Path, env: dict[str, str], redis_client: redis.Redis
) -> None:
    write_config(tmp_path)
    assert jobs.poll_registries("poll-tick-3600-1") == {"idle": 1}
    assert scheduled(redis_client) == []


def test_a_maintenance_round_starts_polling_once_bumper_yaml_polls(
    tmp_path: Path, env: dict[str, str], redis_client: redis.Redis
) -> None:
    write_config(tmp_path)
    worker = make_worker(settings.load(), redis_client, ticks=True)
    worker.run_maintenance_tasks()
    assert scheduled(redis_client) == []
    config = write_config(tmp_path, POLLED)
    os.utime(config, ns=(1, 1))  # a new mtime even within the file system's granularity
    worker.run_maintenance_tasks()
    assert [t.split("-")[0] for t in scheduled(redis_client)] == ["poll"]
    (tmp_path / "bumper.yaml").write_text("apiVersion: bumper/v1\nimages: [{name: 1}]\n")
    worker.run_maintenance_tasks()  # a broken bumper.yaml: one line, the worker goes on
