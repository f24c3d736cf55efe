"""Retry one failed job: the one function ``bumper retry ID`` and the dashboard's retry button
both call.

A failed job goes back to its queue under its own id, with a fresh retry budget, its
``meta["failure"]`` moved to ``meta["retried"]`` (who asked, when, what it had failed with).
It is never duplicated:

- an event job (``handle_event``) is idempotent: routing records candidates by tag and asks
  for *one* pending bump per target (``worker.jobs.request_bump``);
- a bump job (``run_bump``) is requeued only if no other bump of its target is pending
  (``Store.adopt``); otherwise that pending job bumps the target and the retry says so;
- a refused job (crafted, or pickled by an older Bumper: ``bumper.rqjobs.refused``) is
  dead-lettered: it can never run, so it is not retried.

Must not: import the rest of the worker. The web process imports this module for the
dashboard's button (.importlinter, ``web-only-enqueues``): it needs only RQ, the job format
(``bumper.rqjobs``) and ``worker.store``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import JobStatus
from rq.registry import FailedJobRegistry

from bumper import rqjobs
from bumper.errors import NotRetryable
from worker.store import Store

log = logging.getLogger("bumper.worker")


@dataclass(frozen=True)
class Retried:
    job_id: str
    outcome: Literal["requeued", "pending"]
    message: str


def dead_lettered(job: rqjobs.BumperJob) -> bool:
    """A job that can never run as written (refused when loaded, or by ``refused``)."""
    failure = job.meta.get("failure")
    refused = isinstance(failure, dict) and failure.get("reason") == "refused-job"
    return job.refusal is not None or job.func_name == rqjobs.REFUSED or refused


def retry(client: redis.Redis, job_id: str, *, by: str, crash_retries: int = 0) -> Retried:
    """Requeue the failed job ``job_id`` (see the module docstring); ``by`` says who asked
    (``cli``, ``dashboard``). Raises ``NotRetryable`` with a one-line reason."""
    try:
        job = rqjobs.BumperJob.fetch(job_id, connection=client)
    except NoSuchJobError:
        raise NotRetryable(f"no job {job_id!r} (never written, or expired)") from None
    assert isinstance(job, rqjobs.BumperJob)
    status = job.get_status(refresh=False)
    if status != JobStatus.FAILED:
        raise NotRetryable(f"job {job_id} is {status.value if status else 'unknown'}, not failed")
    if dead_lettered(job):
        raise NotRetryable(f"job {job_id} is dead-lettered (a refused job never runs)")
    if job.func_name == rqjobs.RUN_BUMP:
        key = str(job.args[0])
        adopted, pending = Store(client).adopt(key, job.id)
        if not adopted and pending != job.id:
            message = f"a bump of {key} is already pending as job {pending}; it bumps the target"
            return Retried(job.id, "pending", message)
    _requeue(client, job, by=by, crash_retries=crash_retries)
    log.info("job %s requeued (asked by %s)", job.id, by)
    return Retried(job.id, "requeued", f"job {job.id} is queued again on {job.origin}")


def _requeue(client: redis.Redis, job: rqjobs.BumperJob, *, by: str, crash_retries: int) -> None:
    failure = job.meta.pop("failure", None)
    job.meta.pop("retry", None)
    job.meta["retried"] = {"by": by, "at": datetime.now(UTC).isoformat(), "failure": failure}
    job.number_of_retries = 0  # a fresh budget: the transient backoff starts over
    job.retries_left = crash_retries or None
    job.save()
    registry = FailedJobRegistry(
        job.origin, connection=client, job_class=rqjobs.BumperJob, serializer=rqjobs.JobSerializer
    )
    try:
        registry.requeue(job)
    except InvalidJobOperation:
        raise NotRetryable(f"job {job.id} is no longer in the failed registry") from None
