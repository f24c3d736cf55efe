"""The jobs the intake script writes are RQ's own: RQ reads them back field by field, and a
real RQ worker runs them (``worker.jobs.handle_event`` on a config with no images: the event
is routed nowhere and the job finishes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.utils import utcformat, utcparse

from bumper.core import events
from bumper.settings import WebSettings
from bumper.web import intake
from tests.support.redis_server import RedisServer

EVENT = events.ImageEvent(
    type="image.pushed",
    image="ghcr.io/acme/api",
    tag="1.2.3",
    digest="sha256:" + "a" * 64,
    source="github",
    delivery_id="d-1",
    received_at=1_700_000_000.5,
    extra={"labels": {"org.opencontainers.image.revision": "abc"}},
)


def _submit(client: redis.Redis, delivery: str) -> tuple[str, ...]:
    box = intake.Intake(client, "compat", WebSettings(), job_timeout=321)
    submission = box.submit("gh", f"id:{delivery}", [events.to_dict(EVENT)], "{}", "{}")
    assert submission.accepted
    return submission.job_ids


def test_rq_reads_the_job_back(redis_client: redis.Redis) -> None:
    (job_id,) = _submit(redis_client, "rq-1")
    job = Job.fetch(job_id, connection=redis_client)
    assert job.func_name == "worker.jobs.handle_event"
    assert job.args == (events.to_dict(EVENT),) and job.kwargs == {}
    assert events.from_dict(job.args[0]) == EVENT
    assert (job.origin, job.timeout, job.get_status()) == ("compat", 321, JobStatus.QUEUED)
    assert job.enqueued_at is not None and job.created_at is not None
    assert job.description == "image.pushed ghcr.io/acme/api:1.2.3 via github"
    queue = Queue("compat", connection=redis_client)
    assert queue.job_ids == [job_id] and queue.count == 1
    assert queue in Queue.all(connection=redis_client)


@pytest.fixture
def empty_config(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\n")
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(config))
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    from worker import jobs

    jobs.context.cache_clear()
    yield
    jobs.context.cache_clear()


def test_a_real_rq_worker_runs_the_job(redis_client: redis.Redis, empty_config: None) -> None:
    (job_id,) = _submit(redis_client, "rq-2")
    queue = Queue("compat", connection=redis_client)
    worker = SimpleWorker([queue], connection=redis_client)
    assert worker.work(burst=True)
    job = Job.fetch(job_id, connection=redis_client)
    assert job.get_status() == JobStatus.FINISHED, job.latest_result()
    assert queue.count == 0


@pytest.mark.parametrize(
    "seconds", [0.0, 1_700_000_000.0, 1_700_000_000.5, 1_764_225_417.938150, 4_102_444_799.999999]
)
def test_job_timestamps_are_rqs_own_format(seconds: float) -> None:
    stamp = intake.rq_timestamp(seconds)
    expected = utcformat(datetime.fromtimestamp(seconds, tz=UTC))
    # Same shape; the microseconds may differ by one (truncated here, rounded by datetime).
    assert len(stamp) == len(expected) and stamp[:20] == expected[:20] and stamp[-1] == "Z"
    parsed = utcparse(stamp).replace(tzinfo=UTC)
    assert abs(parsed.timestamp() - seconds) <= 1e-6 * 2
