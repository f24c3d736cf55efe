"""``bumper worker``: run the RQ worker (with its scheduler) that executes bump jobs.

The scheduler moves jobs waiting for a retry (``rq.Retry`` with an interval) back onto the
queue when they are due, so retries with backoff need it; it is on unless ``--no-scheduler``.
Settings come from ``BUMPER_*`` (``BUMPER_REDIS_URL``, ``BUMPER_CONFIG_FILE``,
``BUMPER_WORKER__*``, ``BUMPER_LOG__*``); the config file is checked before the worker starts,
so a broken ``bumper.yaml`` exits 2 with its first error instead of failing every job.
Logs are ``bumper.logs`` lines; RQ's own loggers stay at ``BUMPER_LOG__RQ_LEVEL`` (WARNING).

At start: a config problem of the worker's (``bumper.configcheck``: repos, secrets) exits 2 with
one line; a target file missing from a local repo is one error line per target (its bumps
fail; ``bumper check-config`` exits 2 for it). Redis down is waited out with one line per
attempt; a refused Redis password exits 2. Signals: SIGTERM (or Ctrl-C) is RQ's warm shutdown,
the job in hand finishes first (a second one is a cold shutdown: the job is abandoned and
re-run by crash recovery, ``worker.rqworker``, however soon after the first); SIGHUP is logged
and ignored.

Liveness (``worker.alive``): with ``--alive-file PATH`` the worker rewrites PATH at each RQ
heartbeat; ``bumper worker --check-alive PATH`` exits 0 while the next heartbeat is not
overdue, else 1 with one line (the chart's exec probe: no Redis, no config read).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

    from bumper.settings import Settings
    from worker.rqworker import BumpWorker

from bumper.settings import LEVELS

log = logging.getLogger("bumper.worker")


def _hangup(signum: int, frame: FrameType | None) -> None:
    """SIGHUP (a closed terminal, ``kill -HUP``): nothing to reload, since each job re-reads a
    changed bumper.yaml (``worker.context``); said in one line instead of dying mid-job."""
    log.info("SIGHUP: ignored; bumper.yaml is re-read before each job when it changes")


EXAMPLES = """\
bumper worker
bumper worker --burst --log-level DEBUG     # run the queued jobs, then exit
bumper worker --alive-file /tmp/worker-alive  # probe: bumper worker --check-alive /tmp/worker-alive
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run the bump worker (RQ, with scheduler)")
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    parser.add_argument(
        "--no-scheduler", action="store_true", help="do not run RQ's scheduler (retries wait)"
    )
    parser.add_argument("--name", help="worker name (default: RQ's host.pid)")
    parser.add_argument(
        "--alive-file", type=Path, help="rewrite this file at each heartbeat (for a probe)"
    )
    parser.add_argument(
        "--check-alive",
        type=Path,
        metavar="ALIVE_FILE",
        help="only check that file: exit 0 while the worker's next heartbeat is not overdue",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        help="DEBUG, INFO, WARNING (default: BUMPER_LOG__LEVEL, INFO)",
    )
    parser.set_defaults(func=run)


def preload() -> None:
    """Import the job code and the forge SDKs once, here: RQ forks a work horse per job, and
    a horse that had to import PyGithub and python-gitlab itself would spend seconds on it.
    The job context (bumper.yaml parsed) is built here too; each job still checks the file's
    size and mtime, so edits to bumper.yaml apply without a restart."""
    import bumper.scm.github  # noqa: F401
    import bumper.scm.gitlab  # noqa: F401
    import worker.context
    import worker.jobs  # noqa: F401
    import worker.pullrequests  # noqa: F401

    worker.context.current()  # parsed once here, inherited by every forked work horse


def check_alive(path: Path) -> int:
    from worker import alive

    problem = alive.problem(path)
    if problem is not None:
        print(f"bumper worker: {problem}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    if args.check_alive is not None:
        return check_alive(args.check_alive)
    from bumper import configcheck, logs, redisconn, redisready, settings
    from worker import targetcheck

    logs.configure(settings.load_log(), level=args.log_level)
    current = settings.load()
    # ConfigError → exit 2 with one line: file, line, key and fix (bumper.configcheck)
    cfg = configcheck.startup(current.config_file, "worker")
    for problem in targetcheck.local_problems(cfg, current.config_dir()):
        log.error("config: %s", problem)  # fails its bumps; other targets still work
    client = redisconn.connect(current, redisconn.Role.WORKER)
    # Redis down: one line per attempt until it answers; a refused password: exit 2
    redisready.wait(client, current.redis_url)
    redisconn.warn_on_persistence(client, "worker")
    preload()
    signal.signal(signal.SIGHUP, _hangup)
    # the scheduler runs the ticks: without it, none is scheduled (worker.jobs.schedule_ticks)
    worker = make_worker(current, client, name=args.name, ticks=not args.no_scheduler)
    worker.alive_file = args.alive_file
    worker.work(
        burst=args.burst,
        with_scheduler=not args.no_scheduler,
        # RQ applies this to its own loggers (rq.worker, rq.job, the scheduler's)
        logging_level=current.log.rq_level.upper(),
    )
    return 0


def make_worker(
    current: Settings, connection: redis.Redis, name: str | None = None, ticks: bool = False
) -> BumpWorker:
    """The RQ worker ``bumper worker`` runs, with its queues and Bumper's JSON job format
    (``bumper.rqjobs``, never pickle). The receiver writes job data in exactly this format
    (``bumper.web.intake``); tests/web/test_rq_compat.py reads jobs back through this worker.
    ``ticks``: its maintenance schedules the polling and promotion ticks bumper.yaml needs."""
    import time

    from worker import jobs, rqworker

    # events first, then bumps: see worker.jobs.bump_queue_name
    queues = jobs.worker_queues(current.queue_name, connection)
    return rqworker.BumpWorker(
        queues,
        abandoned_after=current.worker.abandoned_after_seconds,
        maintenance=(lambda: jobs.schedule_ticks(connection, time.time())) if ticks else None,
        connection=connection,
        name=name,
    )
