"""Run Bumper's queued jobs in the test process, as ``bumper worker --burst`` would: with
Bumper's job class and JSON serializer (``bumper.rqjobs``), so a test exercises the same job
loading as the real worker."""

from __future__ import annotations

import redis
from rq import SimpleWorker

from bumper import rqjobs
from worker import jobs


def drain(client: redis.Redis, queue_name: str) -> None:
    """Run every job on ``queue_name``'s queues (events, then bumps) until they are empty."""
    SimpleWorker(
        jobs.worker_queues(queue_name, client),
        connection=client,
        job_class=rqjobs.BumperJob,
        serializer=rqjobs.JobSerializer,
    ).work(burst=True)
