"""The RQ worker class ``bumper worker`` runs: RQ's ``Worker``, with crash detection that takes
about a minute instead of up to a quarter of an hour, that loads jobs only in Bumper's checked
JSON format (``bumper.rqjobs``: a job written to Redis by anyone else runs nothing).

When a worker dies with its job (SIGKILL, OOM, a lost node), nobody is left to fail or retry
that job. RQ 3 finds it later: the job's execution sits in the queue's ``StartedJobRegistry``
with a lease that the worker renews while it waits for its work horse
(``job_monitoring_interval``, 30 s, plus a fixed 60 s of grace), and
``StartedJobRegistry.cleanup`` re-enqueues an expired one while it has retries left
(``retries_left``, our ``crash_retries``). But ``cleanup`` runs only in a worker's maintenance,
every ``maintenance_interval`` (600 s), checked between blocking dequeues of
``worker_ttl - 15`` (405 s): a worker restarted right after the crash cleans before the lease
has expired, and looks again only about 13 minutes later. Meanwhile the target's job still
counts as pending, so every push for it waits too.

``abandoned_after_seconds`` (A) sets all three: heartbeats every A/3, a lease of A, and a look
for abandoned jobs every A. A job is re-run at most about 2·A after its worker died. The same
maintenance round runs ``maintenance`` (``bumper worker``: schedule the ticks bumper.yaml needs).
Each heartbeat also rewrites ``alive_file`` when given (``worker.alive``: the chart's probe).
RQ's scheduler process is ``worker.rqscheduler``'s: a Redis outage is one line there.

Signals: the first SIGTERM or SIGINT is RQ's warm shutdown (the job in hand finishes), any
second one its cold shutdown (the horse is killed, the job re-run by crash recovery). RQ ignores
a second signal within 1 s of the first, the duplicate its ``WorkerPool`` sends besides the
terminal's; ``bumper worker`` runs no pool, so a quick double Ctrl-C is a cold stop here too.

Failures: a failed job is logged once, in one line with its job id and no traceback
(``handle_exception``). RQ's own line would repeat the job's with the whole traceback inside the
message, which ``bumper.logs`` never renders; RQ still keeps the traceback with the job's result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from redis.client import Pipeline
from rq import Queue, Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import AbandonedJobError, DeserializationError
from rq.job import Job
from rq.job_lifecycle import call_exception_handlers

from bumper import jobmetrics, logs, rqjobs
from bumper.core import changes
from bumper.errors import BumperError
from worker import alive
from worker.rqscheduler import QuietScheduler

log = logging.getLogger("bumper.worker")


class BumpWorker(Worker):
    def __init__(
        self,
        queues: list[Queue],
        *,
        abandoned_after: int,
        maintenance: Callable[[], object] | None = None,
        alive_file: Path | None = None,
        **kwargs: Any,
    ) -> None:
        self.abandoned_after = abandoned_after
        self.maintenance = maintenance
        self.alive_file = alive_file
        super().__init__(
            queues,
            job_monitoring_interval=max(1, abandoned_after // 3),
            maintenance_interval=abandoned_after,
            # a blocking dequeue lasts worker_ttl - 15 s; maintenance is only checked between two
            worker_ttl=abandoned_after + 15,
            # Bumper's job format, never pickle: see bumper.rqjobs
            job_class=rqjobs.BumperJob,
            serializer=rqjobs.JobSerializer,
            **kwargs,
        )
        self.push_exc_handler(_log_abandoned)  # type: ignore[no-untyped-call]

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance (at start, then every ``abandoned_after``), then Bumper's own: the
        scheduled ticks (``worker.jobs.schedule_ticks``). Its failure is one line, not a stop."""
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        if self.maintenance is None:
            return
        try:
            self.maintenance()
        except Exception as error:  # a broken bumper.yaml, Redis gone: the next round retries
            log.warning("maintenance: %s: %s", type(error).__name__, error)

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """RQ's, with :class:`worker.rqscheduler.QuietScheduler`: an outage is one line there."""
        self.scheduler = QuietScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()  # type: ignore[no-untyped-call]
        if not self.scheduler.acquired_locks:
            return
        if not burst:
            self.scheduler.start()
            return
        try:  # a burst worker moves the due jobs itself, without a process
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
        finally:
            self.scheduler.release_locks()  # type: ignore[no-untyped-call]
            self.scheduler.register_death()

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        # RQ's pool guard compares with the first signal's date; no pool here (module docstring)
        self._shutdown_requested_date = datetime.min.replace(tzinfo=UTC)
        super().request_force_stop(signum, frame)

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        """One line per failed job instead of RQ's, which holds the traceback (module docstring).
        A job that recorded why it failed (``job.meta["failure"]``: ``worker.jobs``,
        ``rqjobs.refused``) has logged that line itself, with its delivery ids."""
        if "failure" not in job.meta:
            try:
                name = job.func_name
            except DeserializationError:
                name = "an unreadable job"
            with logs.context(job_id=job.id):
                log.error("job %s (%s) failed: %s", job.id, name, _why(exc_info[1]))
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        # The liveness file first: with Redis down RQ's heartbeat raises, yet the loop that
        # retries is alive (worker.alive)
        if self.alive_file is not None:
            try:
                alive.touch(self.alive_file, alive.slack(self.abandoned_after))
            except OSError as error:  # the probe fails on its own; the jobs need not stop
                log.warning("liveness file %s: %s", self.alive_file, error.strerror or error)
        super().heartbeat(timeout, pipeline)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # RQ adds a fixed 60 s to the heartbeat interval; the job timeout needs no room here,
        # since the horse enforces it and the parent kills a horse that overruns it by 60 s
        return self.abandoned_after


def _why(error: BaseException | None) -> str:
    """A Bumper error's reason and one-line text (written to be shown); any other exception's
    type only, since its text may hold anything."""
    if isinstance(error, BumperError):
        return f"{error.reason}: {changes.inline(str(error), 500)}"
    return f"unexpected {type(error).__name__}"


def _log_abandoned(
    job: Job,
    exc_type: type[BaseException],
    exc_value: BaseException,
    traceback: TracebackType | None,
) -> bool:
    """Say so when maintenance finds a job whose worker died, before RQ requeues or fails it."""
    if exc_type is AbandonedJobError:
        kind = {
            rqjobs.HANDLE_EVENT: "event",
            rqjobs.RUN_BUMP: "bump",
            rqjobs.POLL_REGISTRIES: "poll",
            rqjobs.EVALUATE_PROMOTIONS: "promotion",
        }.get(job.func_name or "", "job")
        jobmetrics.Recorder(job.connection).inc(jobmetrics.JOBS, kind, "abandoned")
        if job.retries_left:
            log.warning(
                "job %s (%s) was abandoned by its worker, re-running it (%d crash retries left)",
                job.id,
                job.description,
                job.retries_left - 1,
            )
        else:
            log.error(
                "job %s (%s) was abandoned by its worker, no retries left", job.id, job.description
            )
    return True
