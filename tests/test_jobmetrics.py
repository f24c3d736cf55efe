"""bumper.jobmetrics: recordings from forked processes (as RQ's work horses are) add up in
Redis, and the web's ``/metrics`` exposition shows them; a Redis outage fails neither."""

from __future__ import annotations

import os

import redis
from prometheus_client.parser import text_string_to_metric_families

from bumper import jobmetrics
from bumper.web.metrics import WebMetrics
from tests.support.redis_server import RedisServer, free_port


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def horse(url: str, seconds: float) -> None:
    """What one work horse records before it exits."""
    recorder = jobmetrics.Recorder(redis.Redis.from_url(url))
    recorder.inc(jobmetrics.JOBS, "bump", "succeeded")
    recorder.observe(jobmetrics.JOB_DURATION, seconds, "bump", "succeeded")
    recorder.inc(jobmetrics.PUSH_RETRIES, "fetch-first")
    recorder.set(jobmetrics.FORGE_RATE_LIMIT, 4990, "github", "api.example")


def test_counts_from_forked_processes_add_up_on_metrics(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    children = []
    for seconds in (0.01, 0.3, 0.3, 2000.0):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                horse(redis_server.url, seconds)
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0

    metrics = WebMetrics("q", lambda: 3, redis_client)
    found = samples(metrics.render())
    job = (("outcome", "succeeded"), ("type", "bump"))
    assert found[("bumper_worker_jobs_total", job)] == 4.0
    assert found[("bumper_worker_job_duration_seconds_count", job)] == 4.0
    assert found[("bumper_worker_job_duration_seconds_sum", job)] == 2000.61
    bucket = "bumper_worker_job_duration_seconds_bucket"
    assert found[(bucket, (("le", "0.05"), *job))] == 1.0
    assert found[(bucket, (("le", "0.5"), *job))] == 3.0
    assert found[(bucket, (("le", "900.0"), *job))] == 3.0
    assert found[(bucket, (("le", "+Inf"), *job))] == 4.0
    assert found[("bumper_git_push_retries_total", (("reason", "fetch-first"),))] == 4.0
    rate = (("forge", "github"), ("host", "api.example"))
    assert found[("bumper_forge_rate_limit_remaining", rate)] == 4990.0
    assert found[("bumper_queue_depth", (("queue", "q"),))] == 3.0
    assert found[("bumper_queue_jobs", (("queue", "q-bumps"), ("state", "failed")))] == 0.0
    assert found[("bumper_redis_up", ())] == 1.0


def counted(client: redis.Redis) -> tuple[float, float]:
    """One scrape's view of the bump runs: the job counter and the duration histogram's count."""
    values = jobmetrics.read(client)
    jobs = values[jobmetrics.JOBS].get(("bump", "succeeded"), 0.0)
    histogram = values[jobmetrics.JOB_DURATION].get(("bump", "succeeded"))
    assert not isinstance(jobs, jobmetrics.Histogram)
    assert histogram is None or isinstance(histogram, jobmetrics.Histogram)
    return jobs, histogram.buckets[-1][1] if histogram else 0.0


def test_a_batch_is_seen_whole_or_not_at_all(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """A job run's count and duration (``worker.jobs._Run.ended``) are one transaction, and a
    scrape reads in one too: while another process records runs, every scrape finds as many
    runs counted as timed (two round trips let a scrape fall between them: issue 15's flake)."""
    recorder = jobmetrics.Recorder(redis_client)
    with recorder.batch() as batch:
        batch.inc(jobmetrics.JOBS, "bump", "succeeded")
        batch.observe(jobmetrics.JOB_DURATION, 0.2, "bump", "succeeded")
        assert counted(redis_client) == (0.0, 0.0)  # nothing sent before the block ends
    assert counted(redis_client) == (1.0, 1.0)

    runs = 400
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            child = jobmetrics.Recorder(redis.Redis.from_url(redis_server.url))
            for _ in range(runs):
                with child.batch() as batch:
                    batch.inc(jobmetrics.JOBS, "bump", "succeeded")
                    batch.observe(jobmetrics.JOB_DURATION, 0.2, "bump", "succeeded")
        finally:
            os._exit(0)
    seen = []
    while (view := counted(redis_client))[0] < runs + 1:
        seen.append(view)
    assert os.waitpid(pid, 0)[1] == 0
    assert [(jobs, timed) for jobs, timed in seen if jobs != timed] == []
    assert counted(redis_client) == (runs + 1.0, runs + 1.0)


def test_fields_this_version_does_not_understand_are_skipped(redis_client: redis.Redis) -> None:
    redis_client.hset(jobmetrics.JOBS.key, mapping={"not json": 1, '["one"]': 2, '["a","b"]': 3})
    found = samples(WebMetrics("q", lambda: 0, redis_client).render())
    assert found[("bumper_worker_jobs_total", (("outcome", "b"), ("type", "a")))] == 3.0
    assert len([k for k in found if k[0] == "bumper_worker_jobs_total"]) == 1


def test_redis_down_neither_fails_a_recording_nor_the_scrape() -> None:
    gone = redis.Redis(port=free_port(), socket_connect_timeout=1)
    jobmetrics.Recorder(gone).inc(jobmetrics.JOBS, "bump", "succeeded")  # no exception

    def depth() -> int:
        raise redis.ConnectionError("down")

    found = samples(WebMetrics("q", depth, gone).render())
    assert found[("bumper_redis_up", ())] == 0.0
    assert not [k for k in found if k[0].startswith("bumper_worker_")]
