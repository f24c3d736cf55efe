"""RQ's scheduler process (it moves due scheduled jobs, Bumper's ticks and retries, to their
queues), with an outage that costs one line instead of two tracebacks.

RQ forks the scheduler from the worker. When Redis goes away its loop raises, and RQ's ``run``
logs the whole traceback inside an error message, re-raises, and multiprocessing prints the
same traceback again to stderr. The worker starts a new scheduler once Redis answers (its
maintenance re-acquires the scheduler lock), so an outage is expected and needs one line; any
other error also gets one line, the exception's type, as ``rqworker`` does for jobs.
"""

from __future__ import annotations

import logging
from multiprocessing import get_context
from multiprocessing.process import BaseProcess

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.scheduler import RQScheduler

log = logging.getLogger("bumper.worker")


class QuietScheduler(RQScheduler):
    """RQ's scheduler, run by :func:`run` (above) in the forked process instead of RQ's own."""

    def start(self) -> BaseProcess:
        # RQ's start(), with the target swapped: a Redis connection can't cross the fork
        self._status = self.Status.STARTED
        self._connection = None
        process = get_context("fork").Process(target=run, args=(self,), name="Scheduler")
        self._process = process  # type: ignore[assignment]  # RQ annotates it as None
        process.start()
        return process


def run(scheduler: RQScheduler) -> None:
    """The scheduler process's body: the loop until a stop, or one line when it ends early."""
    try:
        scheduler.work()  # type: ignore[no-untyped-call]
    except (RedisConnectionError, RedisTimeoutError) as error:
        log.warning(
            "scheduler: Redis unreachable (%s); the worker starts it again once Redis answers",
            type(error).__name__,
        )
    except Exception as error:  # one line, as for a failed job; RQ would print a traceback
        log.error("scheduler stopped: unexpected %s", type(error).__name__)
