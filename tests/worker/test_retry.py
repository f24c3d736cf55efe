"""``worker.retry``: a failed job queued again by ``bumper retry ID`` (and the dashboard's
button), on a real Redis with jobs made and run by the real worker code."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from bumper import rqjobs
from bumper.cli import main
from bumper.errors import NotRetryable
from tests.support.jobs import drain as run_jobs
from tests.worker.test_flow import file_at, push, setup  # noqa: F401 - the fixture
from worker import context, jobs, retry, store

QUEUE = "bumper-test"


def _failed_bump(config: Path, client: redis.Redis) -> str:
    """A bump job that failed for good: the target's path names no file."""
    config.write_text(config.read_text().replace('paths: ["apps/**"]', 'paths: ["nope.yaml"]', 1))
    context.current.cache_clear()
    [job_id] = jobs.handle_event(push("1.2.0"))
    run_jobs(client, QUEUE)
    job = rqjobs.queue(f"{QUEUE}-bumps", client).fetch_job(job_id)
    assert job is not None and job.get_status() == "failed"
    return str(job_id)


def _fix(config: Path) -> None:
    config.write_text(config.read_text().replace('paths: ["nope.yaml"]', 'paths: ["apps/**"]', 1))
    context.current.cache_clear()


def test_a_failed_bump_retried_after_the_fix_lands_once(
    setup: Path,  # noqa: F811
    client: redis.Redis,
    tmp_path: Path,
) -> None:
    config = tmp_path / "bumper.yaml"
    job_id = _failed_bump(config, client)
    assert store.Store(client).target_records()["api/0"]["bump"]["state"] == "failed"
    _fix(config)
    done = retry.retry(client, job_id, by="test")
    assert done.outcome == "requeued" and job_id in done.message
    job = rqjobs.queue(f"{QUEUE}-bumps", client).fetch_job(job_id)
    assert job is not None and "failure" not in job.meta
    assert job.meta["retried"]["by"] == "test"
    assert job.meta["retried"]["failure"]["reason"] == "edit"
    run_jobs(client, QUEUE)
    assert job.get_status() == "finished"
    assert file_at(setup).endswith("api:1.2.0  # keep me")
    record = store.Store(client).target_records()["api/0"]
    assert record["bump"]["state"] == "merged" and record["bump"]["ref"] == "1.2.0"
    assert record["observed"]["files"] == {"apps/api/deploy.yaml": "1.0.0"}
    with pytest.raises(NotRetryable, match="is finished, not failed"):
        retry.retry(client, job_id, by="test")


def test_a_bump_already_pending_is_not_queued_twice(
    setup: Path,  # noqa: F811
    client: redis.Redis,
    tmp_path: Path,
) -> None:
    config = tmp_path / "bumper.yaml"
    job_id = _failed_bump(config, client)
    _fix(config)
    [pending] = jobs.handle_event(push("1.3.0"))
    assert pending != job_id
    done = retry.retry(client, job_id, by="test")
    assert done.outcome == "pending" and pending in done.message
    assert rqjobs.BumperJob.fetch(job_id, connection=client).get_status() == "failed"
    run_jobs(client, QUEUE)
    assert file_at(setup).endswith("api:1.3.0  # keep me")


def test_unknown_and_dead_lettered_jobs_are_not_retried(client: redis.Redis) -> None:
    with pytest.raises(NotRetryable, match="no job 'nope'"):
        retry.retry(client, "nope", by="test")
    # A job the loader refuses (a malformed event) is dead-lettered: it can never run.
    queue = rqjobs.queue(QUEUE, client)
    crafted = queue.enqueue(rqjobs.HANDLE_EVENT, {"type": "image.pushed"}, job_id="ev-crafted")
    run_jobs(client, QUEUE)
    assert crafted.get_status() == "failed"
    with pytest.raises(NotRetryable, match="dead-lettered"):
        retry.retry(client, "ev-crafted", by="test")


def test_the_cli_retries_a_failed_job(
    setup: Path,  # noqa: F811
    client: redis.Redis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "bumper.yaml"
    job_id = _failed_bump(config, client)
    _fix(config)
    assert main(["retry", job_id]) == 0
    assert f"job {job_id} is queued again on {QUEUE}-bumps" in capsys.readouterr().out
    assert main(["retry", job_id]) == 2
    assert "is queued, not failed" in capsys.readouterr().err
    run_jobs(client, QUEUE)
    assert file_at(setup).endswith("api:1.2.0  # keep me")
