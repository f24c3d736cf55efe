"""True failure reasons, through a real RQ worker and real git: a push the remote refuses fails
the job for good after one attempt, a transient failure waits to retry, and each says why in
``job.meta`` and in ``bumper log``."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from bumper import cli, rqjobs
from tests.worker.test_flow import drain, file_at, push, setup  # noqa: F401 - the fixture
from worker import context, jobs, rqworker

HOOK = (
    "#!/bin/sh\n"
    'echo "GL-HOOK-ERR: You are not allowed to push code to protected branches on this project."\n'
    "exit 1\n"
)


def refuse_pushes(bare: Path) -> None:
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(HOOK)
    hook.chmod(0o755)


def test_a_push_the_hook_refuses_fails_the_job_for_good_after_one_attempt(
    setup: Path,  # noqa: F811 - the fixture
    client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    refuse_pushes(setup)
    [job_id] = jobs.handle_event(push("1.2.0"))
    drain(client)
    job = rqjobs.queue("bumper-test-bumps", client).fetch_job(job_id)
    assert job is not None and job.get_status() == "failed"
    failure = job.meta["failure"]
    assert set(failure) == {"reason", "message", "permanent"}
    assert failure["reason"] == "push-refused" and failure["permanent"] is True
    assert "(pre-receive hook declined)" in failure["message"]
    assert "not allowed to push code to protected branches" in failure["message"]
    assert "retry" not in job.meta and job.number_of_retries in (None, 0)
    assert job.retries_left == 0
    assert file_at(setup).endswith("api:1.0.0  # keep me")
    assert [r for r in caplog.records if "retrying at" in r.getMessage()] == []

    capsys.readouterr()
    assert cli.main(["log"]) == 0
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "FAILED" in line]
    assert f"FAILED job {job_id} (bump api/0): push-refused: push refused by the remote" in line
    assert cli.main(["log", "--jobs", "--json"]) == 0
    [shown] = json.loads(capsys.readouterr().out)
    assert shown["state"] == "failed" and shown["reason"] == "push-refused"


def test_a_transient_failure_waits_to_retry_with_its_time_and_reason(
    setup: Path,  # noqa: F811 - the fixture
    client: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = tmp_path / "bumper.yaml"
    config.write_text(config.read_text().replace(str(setup), "http://127.0.0.1:9/config.git"))
    context.current.cache_clear()
    [job_id] = jobs.handle_event(push("1.2.0"))
    before = datetime.now(UTC)
    drain(client)
    job = rqjobs.queue("bumper-test-bumps", client).fetch_job(job_id)
    assert job is not None and job.get_status() == "scheduled"
    retry = job.meta["retry"]
    assert set(retry) == {"reason", "message", "next_attempt", "attempt"}
    assert retry["reason"] == "git-transient" and retry["attempt"] == 2
    due = datetime.fromisoformat(retry["next_attempt"].replace("Z", "+00:00"))
    assert due.tzinfo is not None and due >= before.replace(microsecond=0)
    [logged] = [r.getMessage() for r in caplog.records if "retrying at" in r.getMessage()]
    assert logged.startswith(f"transient (git-transient), retrying at {retry['next_attempt']}")

    jobs.schedule_poll(client, "bumper-test", 60, time.time())  # scheduled, but no retry
    capsys.readouterr()
    assert cli.main(["log", "--jobs"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"RETRYING job {job_id} (bump api/0): run 2 at {retry['next_attempt']}")
    assert "git-transient: git clone failed" in line


def test_a_failed_job_is_one_log_line_with_its_id_and_no_traceback(
    setup: Path,  # noqa: F811 - the fixture
    client: redis.Redis,
) -> None:
    """The real ``bumper worker`` (``BumpWorker``) runs the refused push: its stderr holds the
    failure once, the job's own line with the job id, and RQ's traceback line not at all."""
    refuse_pushes(setup)
    [job_id] = jobs.handle_event(push("1.2.0"))
    done = subprocess.run(
        [sys.executable, "-m", "bumper", "worker", "--burst", "--no-scheduler"],
        cwd=setup.parent,
        env={**os.environ, "BUMPER_LOG__FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    lines = [json.loads(line) for line in output.splitlines()]
    # (the two config errors at start are about the other rules, whose image no file holds)
    [failure] = [line for line in lines if "push refused" in line["message"]]
    assert failure["message"].startswith("permanent failure (push-refused)")
    assert (failure["level"], failure["logger"]) == ("error", "bumper.worker")
    assert failure["job_id"] == job_id
    assert [line for line in lines if line["logger"].startswith("rq.")] == []


def test_a_failure_the_job_did_not_record_is_logged_once_by_the_worker(
    client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A job that failed before saying why (no ``meta["failure"]``, e.g. a polling tick whose
    bumper.yaml broke) gets one line from the worker: its id and the error's type only."""
    job = rqjobs.queue("bumper-test", client).enqueue("worker.jobs.poll_registries", "tick-1")
    worker = rqworker.BumpWorker([rqjobs.queue("bumper-test", client)], abandoned_after=60)
    try:
        raise KeyError("a secret-looking text")
    except KeyError:
        with caplog.at_level(logging.DEBUG):
            worker.handle_exception(job, *sys.exc_info())
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    text = line.getMessage()
    assert text == f"job {job.id} (worker.jobs.poll_registries) failed: unexpected KeyError"
    assert "secret" not in text and "Traceback" not in caplog.text

    caplog.clear()
    job.meta["failure"] = {"reason": "push-refused", "message": "m", "permanent": True}
    try:
        raise KeyError("x")
    except KeyError:
        worker.handle_exception(job, *sys.exc_info())
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
