"""RQ entry points, and nothing else: turn errors into RQ outcomes.

- ``handle_event(event_dict)``: enqueued by the receiver (by name). Routes the event to
  targets (``bump.route``) and makes sure exactly one bump job is pending per target; a
  ``pr.comment`` runs its ``/bumper`` command instead (``worker.commands``).
- ``run_bump(key)``: bumps one target; runs again in the same job if candidates arrived
  while it ran. A lone push is bumped at once; when more pushes for the target are waiting
  at the start, or arrive while the first run prepares its change (before it pushes), the
  run waits until ``coalesce_seconds`` after the enqueue and bumps them all, so a burst
  gives one commit with the newest allowed tag.
- ``evaluate_promotions(tick_id)``: decide every promotion pipeline (``worker.promotion``);
  queued by the web process when an agent reports, and on a scheduled tick like polling's
  (``schedule_promotions``), which notices soak timers that ran out and first re-observes the
  push environments a soak reads (``worker.pushcheck``). A CI result is evaluated
  at once in its ``handle_event`` when a later environment has a CI gate.
- ``poll_registries(tick_id)``: one registry polling tick (``worker.polling``); it schedules
  the next tick first, under a job id named after its time slot, so the chain is one job
  whatever the number of workers (``schedule_poll``; RQ's scheduler runs it when due).

Errors: ``TransientError`` → the job returns ``rq.Retry`` with exponential backoff
(base·2^n, capped, never sooner than the error's ``delay``, e.g. a forge's ``Retry-After``),
writes ``job.meta["retry"]`` (reason, message, next attempt's time and number) and logs one line
saying when and why; ``PermanentError``/``ConfigError`` → the job fails visibly with its reason
in ``job.meta["failure"]`` and is not retried. Both shapes are in docs/worker.md; ``bumper log``
and the dashboard read them.
A worker that dies mid-job (SIGKILL, OOM) leaves the job to RQ's abandoned-job handling, which
re-runs it (``crash_retries``) within about 2·``abandoned_after_seconds`` (see
``worker.rqworker``); the re-run takes over the repo lock of its dead run (``Store.repo_lock``),
and every step is idempotent, so a re-run never duplicates a PR.

Each job reads the process's ``WorkerContext`` (``worker.context.current()``). Log lines inside
a job carry its ``job_id`` and the ``delivery_id`` it serves (``bumper.logs``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rq import Queue, Retry, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from bumper import jobmetrics, logs, rqjobs, settings
from bumper.core import changes, events
from bumper.errors import BumperError, ConfigError, PermanentError, TransientError
from bumper.registry import state
from worker import bump, commands, context, polling, promotion, pushcheck, registries
from worker.context import WorkerContext
from worker.promotionstore import PromotionStore
from worker.records import BumpOutcome

log = logging.getLogger("bumper.worker")

# A failure or retry message is one line of at most this many characters (meta, logs, CLI).
MESSAGE_LIMIT = 500
PENDING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED)


def backoff(attempt: int, delay: float, *, base: float, cap: float) -> int:
    """Seconds before retry ``attempt`` (0-based): base·2^attempt, at least ``delay``, capped."""
    wanted = max(delay, base * (2**attempt))
    return max(1, int(min(wanted, max(cap, delay)) + 0.999))


def guarded(work: Callable[[], Any], kind: str = "job") -> Any:
    """Run ``work`` mapping Bumper errors to RQ outcomes (see module docstring); ``kind``
    (``event``, ``bump``) labels the run in the worker's metrics."""
    job = get_current_job()
    ctx = context.current()
    limits = ctx.settings
    ran = _Run(ctx.metrics, kind)
    try:
        result = work()
    except TransientError as error:
        attempt = (job.number_of_retries or 0) if job is not None else 0
        if attempt >= limits.retry_max:
            failure = PermanentError(
                f"gave up after {attempt} retries: {error}", reason=error.reason
            )
            _fail(job, failure)
            ran.ended("failed", failure.reason)
            raise failure from error
        wait = backoff(
            attempt, error.delay, base=limits.retry_base_seconds, cap=limits.retry_cap_seconds
        )
        _retry_later(job, error, wait, run=attempt + 2)
        ran.ended("retrying", error.reason)
        return Retry(max=limits.retry_max + 1, interval=[wait])
    except (PermanentError, ConfigError) as error:
        _fail(job, error)
        ran.ended("failed", error.reason)
        raise
    except Exception as error:
        # A bug, not a Bumper error: RQ keeps the traceback and may re-run the job
        # (``crash_retries``); the reason names the type only, as its text may hold anything.
        _mark(job, "failure", _unexpected(error, permanent=not (job and job.retries_left)))
        ran.ended("failed", "internal-error")
        raise
    _mark(job, "retry", None)
    ran.ended("succeeded")
    return result


class _Run:
    """One run of a job, for the metrics: counted by outcome, timed, retries and failures by
    reason (``bumper.jobmetrics``)."""

    def __init__(self, metrics: jobmetrics.Recorder, kind: str) -> None:
        self.metrics = metrics
        self.kind = kind
        self.started = time.monotonic()

    def ended(self, outcome: str, reason: str = "") -> None:
        elapsed = time.monotonic() - self.started
        # one transaction: a scrape sees the run counted with its duration, or not at all
        with self.metrics.batch() as batch:
            batch.inc(jobmetrics.JOBS, self.kind, outcome)
            batch.observe(jobmetrics.JOB_DURATION, elapsed, self.kind, outcome)
            if outcome == "retrying":
                batch.inc(jobmetrics.JOB_RETRIES, self.kind, reason)
            elif outcome == "failed":
                batch.inc(jobmetrics.JOB_FAILURES, self.kind, reason)


def _retry_later(job: Job | None, error: TransientError, wait: int, *, run: int) -> None:
    """Say when and why the job runs again: one log line and ``job.meta["retry"]``."""
    due = (datetime.now(UTC) + timedelta(seconds=wait)).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = changes.inline(str(error), MESSAGE_LIMIT)
    log.warning(
        "transient (%s), retrying at %s (in %ds, run %d): %s", error.reason, due, wait, run, message
    )
    retry = {"reason": error.reason, "message": message, "next_attempt": due, "attempt": run}
    _mark(job, "retry", retry)


def _fail(job: Job | None, error: BumperError) -> None:
    """Mark the job's failure reason, and stop RQ from re-running it (crash-retry budget)."""
    message = changes.inline(str(error), MESSAGE_LIMIT)
    log.error("permanent failure (%s): %s", error.reason, message)
    if job is not None:
        job.retries_left = 0
    _mark(job, "failure", {"reason": error.reason, "message": message, "permanent": True})
    _mark(job, "retry", None)


def _unexpected(error: Exception, *, permanent: bool) -> dict[str, Any]:
    name = type(error).__name__
    message = f"unexpected {name}; RQ keeps its traceback with the job's result"
    log.error("unexpected %s in the job", name)
    return {"reason": "internal-error", "message": message, "permanent": permanent}


def _mark(job: Job | None, key: str, value: dict[str, Any] | None) -> None:
    """Set (or, with None, drop) ``job.meta[key]`` and save it, when there is a job."""
    if job is None or (value is None and key not in job.meta):
        return
    if value is None:
        del job.meta[key]
    else:
        job.meta[key] = value
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
        if isinstance(event, events.PullRequestComment):
            return [commands.run(ctx, event, lambda key: request_bump(ctx, key))]
        event = registries.complete(ctx, event)
        keys = list(dict.fromkeys(bump.route(ctx, event)))
        requested = [request_bump(ctx, key) for key in keys]
        if isinstance(event, events.ImageEvent) and event.source != "poll" and event.tag:
            # only once its bumps are requested: a poll then leaves this push to them
            if ctx.config.images_for(event.image):
                state.note_webhook(ctx.store.redis, event.image, event.tag, event.digest)
        if isinstance(event, events.BuildFinished):
            ctx.forges.on_build(event)
            if promotion.gated_by_ci(ctx.config):  # a CI gate of a later environment: at once
                promotion.evaluate(ctx, lambda key: request_bump(ctx, key))
        return requested

    delivery = str(event_dict.get("delivery_id") or "")
    with logs.context(job_id=job.id if job is not None else None, delivery_id=delivery):
        return guarded(work, "event")


bump_queue_name = rqjobs.bump_queue_name


def worker_queues(queue_name: str, connection: redis.Redis) -> list[Queue]:
    """The queues a worker serves, in priority order: events, then bumps."""
    return [rqjobs.queue(name, connection) for name in rqjobs.queue_names(queue_name)]


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
    queue = rqjobs.queue(bump_queue_name(context.current.loaded().queue_name), ctx.store.redis)
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
        window = ctx.settings.coalesce_seconds
        # Coalesce only while a burst is arriving: a lone push is bumped at once, and the
        # first run gives way (``BurstArriving``) when more pushes came while it prepared.
        may_wait = _may_coalesce(job, window)
        if may_wait and len(ctx.store.candidates(key)) > 1:
            _coalesce(job, window)
            may_wait = False
        done = []
        while True:
            logs.bind(delivery_id=_deliveries(ctx, key))
            try:
                outcome = bump.bump_target(
                    ctx, key, job_id=job.id if job is not None else None, give_way=may_wait
                )
            except bump.BurstArriving:
                _coalesce(job, window)
                may_wait = False
                continue
            except (PermanentError, ConfigError) as error:
                ctx.store.forget(key, job_id)
                failed = {"state": "failed", "job": job_id, "reason": error.reason}
                ctx.store.record_target(key, bump={**failed, "at": time.time()})
                raise
            if outcome is not None:
                done.append(_summary(outcome))
                ctx.metrics.inc(jobmetrics.BUMPS, _rule_of(key), _result_of(outcome))
            if not ctx.store.finish(key, job_id):
                return done

    with logs.context(job_id=job_id, target=key):
        return guarded(work, "bump")


def _rule_of(key: str) -> str:
    """The image rule of a target key (``<rule>/<index>``)."""
    return key.rsplit("/", 1)[0]


def _result_of(outcome: BumpOutcome) -> str:
    if outcome.pr:
        return "pr"
    return "commit" if outcome.pushed else "unchanged"


def _deliveries(ctx: WorkerContext, key: str) -> str:
    """The delivery ids of the candidates waiting for ``key``, for the job's log lines."""
    found = {str(c.event.get("delivery_id") or "") for c in ctx.store.candidates(key)}
    return ",".join(sorted(found - {""}))


def _may_coalesce(job: Job | None, window: float) -> bool:
    """Whether this run may wait for a burst: a job's first run, with a window."""
    return not (job is None or job.number_of_retries or job.enqueued_at is None or window <= 0)


def _coalesce(job: Job | None, window: float) -> None:
    """Let a burst finish arriving: run again no sooner than ``window`` s after the enqueue."""
    if job is None or not _may_coalesce(job, window) or job.enqueued_at is None:
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


# -- registry polling ---------------------------------------------------------------------

POLL_JOB_PREFIX = "poll-tick-"


def schedule_ticks(connection: redis.Redis, now: float) -> list[str]:
    """Schedule the polling tick if bumper.yaml polls a repository, the promotion tick if it has
    pipelines, and nothing else: a tick with nothing to do still forks a work horse. Each
    worker calls this as it starts and at each maintenance round (``worker.rqworker``), so an
    edited bumper.yaml starts (or restarts) a tick within ``abandoned_after_seconds``; the
    job ids of a slot are fixed, so any number of calls schedules one job. The ids scheduled."""
    ctx = context.current()
    queue_name = settings.load().queue_name
    scheduled = []
    if polling.watches(ctx.config):
        scheduled.append(schedule_poll(connection, queue_name, ctx.settings.poll_tick_seconds, now))
    if ctx.config.pipelines:
        tick = ctx.settings.promotion_tick_seconds
        scheduled.append(schedule_promotions(connection, queue_name, tick, now))
    return scheduled


def schedule_poll(connection: redis.Redis, queue_name: str, tick: float, now: float) -> str:
    """Schedule the tick of the next slot of ``tick`` seconds; its job id. Idempotent: every
    caller (each worker as it starts, each tick) names the slot's job the same, so RQ keeps one."""
    slot = int(now // tick) + 1
    job_id = f"{POLL_JOB_PREFIX}{int(tick)}-{slot}"
    queue = rqjobs.queue(queue_name, connection)
    queue.enqueue_at(
        datetime.fromtimestamp(slot * tick, UTC),
        poll_registries,
        job_id,
        job_id=job_id,
        result_ttl=0,
        failure_ttl=3600,
        description="poll registries",
    )
    return job_id


def poll_registries(tick_id: str) -> Any:
    """One polling tick: schedule the next one, then poll what is due (``worker.polling``).
    Nothing to poll any more: no next tick (``schedule_ticks`` starts one when that changes)."""
    with logs.context(job_id=tick_id):
        ctx = context.current()
        watched = polling.watches(ctx.config)
        if not watched:
            return {"idle": 1}
        tick = ctx.settings.poll_tick_seconds
        schedule_poll(ctx.store.redis, settings.load().queue_name, tick, time.time())
        return polling.tick(
            ctx.store.redis,
            watched,
            lambda watch: registries.client_for(ctx, watch.host, index=watch.index),
            lambda event: enqueue_polled(ctx, event),
        )


def enqueue_polled(ctx: WorkerContext, event: events.ImageEvent) -> bool:
    """Queue a polled event as the receiver queues a webhook's (a ``handle_event`` job), once
    per delivery id within the dedup window; False when it was already queued."""
    current = settings.load()
    mark = "bumper:dedup:" + hashlib.sha256(f"poll\0{event.delivery_id}".encode()).hexdigest()
    if not ctx.store.redis.set(
        mark, event.delivery_id, nx=True, ex=current.web.dedup_window_seconds
    ):
        return False
    queue = rqjobs.queue(current.queue_name, ctx.store.redis)
    queue.enqueue(
        handle_event,
        events.to_dict(event),
        job_id=f"ev-{event.delivery_id}",
        job_timeout=ctx.settings.job_timeout_seconds,
        failure_ttl=7 * 86_400,
        description=f"image.pushed {event.image}:{event.tag} via poll",
    )
    return True


# -- promotion pipelines ------------------------------------------------------------------

PROMOTION_JOB_PREFIX = "promotion-tick-"


def schedule_promotions(connection: redis.Redis, queue_name: str, tick: float, now: float) -> str:
    """Schedule the promotion tick of the next slot (one job whatever the number of workers,
    as ``schedule_poll``); its job id."""
    slot = int(now // tick) + 1
    job_id = f"{PROMOTION_JOB_PREFIX}{int(tick)}-{slot}"
    rqjobs.queue(queue_name, connection).enqueue_at(
        datetime.fromtimestamp(slot * tick, UTC),
        evaluate_promotions,
        job_id,
        job_id=job_id,
        result_ttl=0,
        failure_ttl=3600,
        description="evaluate promotions (tick)",
    )
    return job_id


def evaluate_promotions(tick_id: str) -> Any:
    """Decide every promotion pipeline and queue the promotions due. A tick (its id starts
    with ``PROMOTION_JOB_PREFIX``) schedules the next one first; a report's job clears the
    web's pending mark first, so a report arriving meanwhile queues another evaluation."""
    with logs.context(job_id=tick_id):

        def work() -> int:
            ctx = context.current()
            if tick_id.startswith(PROMOTION_JOB_PREFIX) and ctx.config.pipelines:
                tick = ctx.settings.promotion_tick_seconds
                schedule_promotions(ctx.store.redis, settings.load().queue_name, tick, time.time())
                # push environments have no agent that keeps reporting during a soak
                pushcheck.recheck(ctx)
            else:
                PromotionStore(ctx.store.redis).clear_pending()
            return promotion.evaluate(ctx, lambda key: request_bump(ctx, key))

        return guarded(work, "promotion")
