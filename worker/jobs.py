"""RQ entry points, and nothing else: turn errors into RQ outcomes.

- ``handle_event(event_dict)``: enqueued by the receiver (by name). Routes the event to
  targets (``bump.route``) and makes sure exactly one bump job is pending per target.
- ``run_bump(key)``: bumps one target; runs again in the same job if candidates arrived
  while it ran (so a burst of pushes gives one commit with the newest allowed tag).

Errors: ``TransientError`` → the job returns ``rq.Retry`` with exponential backoff
(base·2^n, capped, never sooner than the error's ``delay``, e.g. a forge's ``Retry-After``);
``PermanentError``/``ConfigError`` → the job fails visibly with its reason and is not retried.
A worker that dies mid-job (SIGKILL, OOM) leaves the job to RQ's abandoned-job handling, which
re-runs it (``crash_retries``) within about 2·``abandoned_after_seconds`` (see
``worker.rqworker``); the re-run takes over the repo lock of its dead run (``Store.repo_lock``),
and every step is idempotent, so a re-run never duplicates a PR.

Each job reads the process's ``WorkerContext`` (``worker.context.current()``). Log lines inside
a job carry its ``job_id`` and the ``delivery_id`` it serves (``bumper.logs``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue, Retry, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from bumper import logs, rqjobs, settings
from bumper.core import events
from bumper.errors import BumperError, ConfigError, PermanentError, TransientError
from worker import bump, context
from worker.context import WorkerContext
from worker.records import BumpOutcome

log = logging.getLogger("bumper.worker")

PENDING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED)


def backoff(attempt: int, delay: float, *, base: float, cap: float) -> int:
    """Seconds before retry ``attempt`` (0-based): base·2^attempt, at least ``delay``, capped."""
    wanted = max(delay, base * (2**attempt))
    return max(1, int(min(wanted, max(cap, delay)) + 0.999))


def guarded(work: Callable[[], Any]) -> Any:
    """Run ``work`` mapping Bumper errors to RQ outcomes (see module docstring)."""
    job = get_current_job()
    limits = context.current().settings
    try:
        return work()
    except TransientError as error:
        attempt = (job.number_of_retries or 0) if job is not None else 0
        if attempt >= limits.retry_max:
            failure = PermanentError(
                f"gave up after {attempt} retries: {error}", reason=error.reason
            )
            _fail(job, failure)
            raise failure from error
        wait = backoff(
            attempt, error.delay, base=limits.retry_base_seconds, cap=limits.retry_cap_seconds
        )
        log.warning("transient (%s), retry %d in %ds: %s", error.reason, attempt + 1, wait, error)
        return Retry(max=limits.retry_max + 1, interval=[wait])
    except (PermanentError, ConfigError) as error:
        _fail(job, error)
        raise


def _fail(job: Job | None, error: BumperError) -> None:
    """Mark the job's failure reason, and stop RQ from re-running it (crash-retry budget)."""
    log.error("permanent failure (%s): %s", error.reason, error)
    if job is not None:
        job.retries_left = 0
        job.meta["failure"] = {"reason": error.reason, "message": str(error)}
        job.save_meta()  # type: ignore[no-untyped-call]


def handle_event(event_dict: dict[str, Any]) -> Any:
    """The receiver's job: route one event and make sure the bump jobs it needs are pending.

    Its log lines carry the job id and the event's ``delivery_id`` (``bumper.logs.context``).
    """
    job = get_current_job()

    def work() -> list[str]:
        ctx = context.current()
        try:
            event = events.from_dict(event_dict)
        except (TypeError, ValueError) as error:
            raise PermanentError(f"malformed event: {error}", reason="event") from None
        keys = list(dict.fromkeys(bump.route(ctx, event)))
        if isinstance(event, events.BuildFinished):
            ctx.forges.on_build(event)
        return [request_bump(ctx, key) for key in keys]

    delivery = str(event_dict.get("delivery_id") or "")
    with logs.context(job_id=job.id if job is not None else None, delivery_id=delivery):
        return guarded(work)


def bump_queue_name(queue_name: str) -> str:
    """Bump jobs have their own queue, listened to after the event queue: a worker routes
    every event already queued before it bumps, so a burst lands as one commit."""
    return f"{queue_name}-bumps"


def worker_queues(queue_name: str, connection: redis.Redis) -> list[Queue]:
    """The queues a worker serves, in priority order: events, then bumps."""
    return [rqjobs.queue(name, connection) for name in (queue_name, bump_queue_name(queue_name))]


def request_bump(ctx: WorkerContext, key: str) -> str:
    """Make sure one bump job for ``key`` is pending; its id (an existing one if pending)."""
    for _ in range(3):
        fresh, job_id = ctx.store.request(key)
        if fresh:
            _enqueue(ctx, key, job_id)
            return job_id
        status = _status(ctx, job_id)
        if status in PENDING:
            return job_id
        ctx.store.forget(key, job_id)  # its job is gone (failed for good, or lost): start over
    raise TransientError(f"could not settle the pending bump of {key!r}", delay=1, reason="busy")


def _status(ctx: WorkerContext, job_id: str) -> JobStatus | None:
    try:
        return rqjobs.BumperJob.fetch(job_id, connection=ctx.store.redis).get_status(refresh=False)
    except NoSuchJobError:  # failed for good and expired, or never written
        return None


def _enqueue(ctx: WorkerContext, key: str, job_id: str) -> None:
    queue = rqjobs.queue(bump_queue_name(settings.load().queue_name), ctx.store.redis)
    retry = Retry(max=ctx.settings.crash_retries) if ctx.settings.crash_retries else None
    queue.enqueue(
        run_bump,
        key,
        job_id=job_id,
        job_timeout=ctx.settings.job_timeout_seconds,
        retry=retry,
        failure_ttl=7 * 86_400,
        description=f"bump {key}",
    )


def run_bump(key: str) -> Any:
    """Bump ``key`` with every candidate recorded for it; loop while new ones arrived.

    Its log lines carry the job id, the target and the ``delivery_id`` of every candidate
    being bumped (comma-separated: one commit can serve a burst of deliveries).
    """
    job = get_current_job()
    job_id = job.id if job is not None else f"bump:{key}:inline"

    def work() -> list[dict[str, Any]]:
        ctx = context.current()
        ctx.store.start(key, job_id)
        _coalesce(job, ctx.settings.coalesce_seconds)
        done = []
        while True:
            logs.bind(delivery_id=_deliveries(ctx, key))
            try:
                outcome = bump.bump_target(ctx, key, job_id=job.id if job is not None else None)
            except (PermanentError, ConfigError) as error:
                ctx.store.forget(key, job_id)
                failed = {"state": "failed", "job": job_id, "reason": error.reason}
                ctx.store.record_target(key, bump={**failed, "at": time.time()})
                raise
            if outcome is not None:
                done.append(_summary(outcome))
            if not ctx.store.finish(key, job_id):
                return done

    with logs.context(job_id=job_id, target=key):
        return guarded(work)


def _deliveries(ctx: WorkerContext, key: str) -> str:
    """The delivery ids of the candidates waiting for ``key``, for the job's log lines."""
    found = {str(c.event.get("delivery_id") or "") for c in ctx.store.candidates(key)}
    return ",".join(sorted(found - {""}))


def _coalesce(job: Job | None, window: float) -> None:
    """Let a burst finish arriving: the first run starts ``window`` s after its enqueue."""
    if job is None or job.number_of_retries or job.enqueued_at is None or window <= 0:
        return
    enqueued = job.enqueued_at
    if enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=UTC)
    waited = (datetime.now(UTC) - enqueued).total_seconds()
    if waited < window:
        time.sleep(window - waited)


def _summary(outcome: BumpOutcome) -> dict[str, Any]:
    result = outcome.result
    return {
        "target": outcome.key,
        "ref": result.ref if result else None,
        "files": list(result.files) if result else [],
        "sha": outcome.sha,
        "pushed": outcome.pushed,
        "pr": (outcome.pr or {}).get("url"),
        "deploy": outcome.deployment.summary() if outcome.deployment else None,
    }


def describe(error: BumperError) -> str:
    return f"{error.reason}: {error}"
