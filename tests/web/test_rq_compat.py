"""The jobs the intake script writes are RQ's own, for the RQ version installed (pinned by
uv.lock, capped in pyproject.toml): the hash has the fields RQ itself writes for the same
``Queue.enqueue``, RQ reads every one of them back, the job data is JSON and loads with the
serializer of the worker ``bumper worker`` runs (``bumper.rqjobs``, never pickle), and that
worker runs the job to FINISHED (``worker.jobs.handle_event`` on a config with no images: the
event is routed nowhere).

When an RQ upgrade changes its job format, these tests fail: check ``bumper.web.intake``
against the new ``Job.to_dict``/``Job.restore`` and move the cap in pyproject.toml."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import utcformat, utcparse

from bumper import rqjobs, settings
from bumper.cli.worker import make_worker
from bumper.core import events
from bumper.settings import WebSettings
from bumper.web import intake
from tests.support.redis_server import RedisServer
from worker.rqworker import BumpWorker

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


TIMEOUT = 321
STAMPS = {b"created_at", b"enqueued_at"}


@pytest.fixture
def bumper_worker(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[BumpWorker]:
    """The worker ``bumper worker`` builds, on a config with no images."""
    config = tmp_path / "bumper.yaml"
    config.write_text("apiVersion: bumper/v1\n")
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(config))
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    from worker import context

    context.current.cache_clear()
    yield make_worker(settings.load(), redis_client)
    context.current.cache_clear()


def _submit(client: redis.Redis, delivery: str) -> str:
    """Submit EVENT through the intake on the worker's event queue; the job's id."""
    box = intake.Intake(client, settings.load().queue_name, WebSettings(), job_timeout=TIMEOUT)
    submission = box.submit("gh", f"id:{delivery}", [events.to_dict(EVENT)], "{}", "{}")
    assert submission.accepted
    (job_id,) = submission.job_ids
    return job_id


def _enqueue_by_rq(client: redis.Redis, worker: BumpWorker, job_id: str) -> str:
    """The same job as the intake writes, enqueued through RQ's own API."""
    queue = rqjobs.queue(settings.load().queue_name, client)
    assert worker.serializer is queue.serializer is rqjobs.JobSerializer
    data = events.to_dict(EVENT)
    queue.enqueue(
        intake.JOB_FUNC,
        data,
        job_id=job_id,
        job_timeout=TIMEOUT,
        description=intake._describe(data),
    )
    return job_id


def _hash(client: redis.Redis, job_id: str) -> dict[bytes, bytes]:
    return client.hgetall(Job.redis_job_namespace_prefix + job_id)  # type: ignore[return-value]


def test_intake_writes_the_fields_rq_writes(
    redis_client: redis.Redis, bumper_worker: BumpWorker
) -> None:
    ours = _hash(redis_client, _submit(redis_client, "rq-0"))
    theirs = _hash(redis_client, _enqueue_by_rq(redis_client, bumper_worker, "reference"))
    assert set(ours) <= set(theirs), "intake writes a field RQ does not"
    left_out = {key: theirs[key] for key in set(theirs) - set(ours)}
    assert all(value == b"" for value in left_out.values()), (
        f"RQ writes fields intake leaves out: {left_out}"
    )
    serializer = bumper_worker.serializer
    # RQ compresses the data; intake does not (Job.restore takes both)
    assert serializer.loads(ours[b"data"]) == serializer.loads(zlib.decompress(theirs[b"data"]))
    # plain JSON: no pickle opcode, nothing a loader could call
    assert json.loads(ours[b"data"]) == [intake.JOB_FUNC, None, [events.to_dict(EVENT)], {}]
    for stamp in STAMPS:
        assert utcformat(utcparse(ours[stamp].decode())) == ours[stamp].decode()
    same = set(ours) - STAMPS - {b"data"}
    assert {key: ours[key] for key in same} == {key: theirs[key] for key in same}


def test_rq_reads_every_field_back(redis_client: redis.Redis, bumper_worker: BumpWorker) -> None:
    job_id = _submit(redis_client, "rq-1")
    raw = _hash(redis_client, job_id)
    job = bumper_worker.job_class.fetch(job_id, connection=redis_client)
    assert isinstance(job, rqjobs.BumperJob) and job.refusal is None
    assert job.func_name == intake.JOB_FUNC
    assert list(job.args) == [events.to_dict(EVENT)] and job.kwargs == {}
    assert events.from_dict(job.args[0]) == EVENT
    assert (job.origin, job.timeout, job.get_status()) == (
        settings.load().queue_name,
        TIMEOUT,
        JobStatus.QUEUED,
    )
    assert job.description == "image.pushed ghcr.io/acme/api:1.2.3 via github"
    # RQ writes back what it read (Job.to_dict): every field intake wrote, unchanged (the
    # data compressed), and the ones it left out empty.
    job.save()
    again = _hash(redis_client, job_id)
    assert set(again) >= set(raw)
    assert zlib.decompress(again[b"data"]) == raw[b"data"]
    assert {key: again[key] for key in raw if key != b"data"} == {
        key: value for key, value in raw.items() if key != b"data"
    }
    assert {key: again[key] for key in set(again) - set(raw)} == dict.fromkeys(
        set(again) - set(raw), b""
    )
    queue = rqjobs.queue(settings.load().queue_name, redis_client)
    assert queue.job_ids == [job_id] and queue.count == 1
    assert queue in Queue.all(connection=redis_client)


def test_the_bumper_worker_runs_the_job(
    redis_client: redis.Redis, bumper_worker: BumpWorker
) -> None:
    job_id = _submit(redis_client, "rq-2")
    assert bumper_worker.work(burst=True, with_scheduler=False)
    job = rqjobs.BumperJob.fetch(job_id, connection=redis_client)
    assert job.get_status() == JobStatus.FINISHED, job.latest_result()
    assert job.return_value() == []  # routed to no target: no bump requested
    assert rqjobs.queue(settings.load().queue_name, redis_client).count == 0


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
