"""The jobs an on-call engineer must see: those waiting to retry and those that failed.

Read from RQ's registries (``ScheduledJobRegistry``: a job that returned ``rq.Retry`` waits
there until its next attempt; ``FailedJobRegistry``) of every queue the worker serves, and from
each job's ``meta``, which ``worker.jobs`` writes in the agreed shapes:

- ``meta["retry"]`` = ``{"reason", "message", "next_attempt" (ISO-8601 UTC), "attempt"}``
  (a scheduled job without it, such as the next registry polling tick, is not a retry);
- ``meta["failure"]`` = ``{"reason", "message", "permanent"}``.

A failed job without ``meta["failure"]`` (a crash RQ recorded, a job from an older Bumper)
is shown with reason ``unknown``. ``bumper log`` shows these lines; the dashboard may read
them too. Read-only, bounded (at most ``limit`` jobs of each kind per queue), and no job's
function is imported: only the hash's meta and description are read.

Must not: import the worker (the web may import this module) or write anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import BaseRegistry, FailedJobRegistry, ScheduledJobRegistry

from bumper import rqjobs

State = Literal["retrying", "failed"]


@dataclass(frozen=True)
class JobState:
    """One retrying or failed job, as a person reads it."""

    job_id: str
    queue: str
    description: str
    state: State
    reason: str
    message: str
    when: datetime | None  # retrying: the next attempt; failed: when it ended
    attempt: int | None = None  # retrying: the number of the run due at ``when``
    permanent: bool = True

    def line(self) -> str:
        """One line: time, state, job, reason and message."""
        when = f"{self.when:%Y-%m-%dT%H:%M:%SZ}" if self.when else "(time unknown)"
        if self.state == "retrying":
            head = f"RETRYING job {self.job_id} ({self.description}): run {self.attempt or '?'}"
            return f"{head} at {when}, {self.reason}: {self.message}"
        kind = "FAILED" if self.permanent else "FAILED (may be re-run)"
        return (
            f"{when} {kind} job {self.job_id} ({self.description}): {self.reason}: {self.message}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "queue": self.queue,
            "description": self.description,
            "state": self.state,
            "reason": self.reason,
            "message": self.message,
            "when": f"{self.when:%Y-%m-%dT%H:%M:%SZ}" if self.when else None,
            "attempt": self.attempt,
            "permanent": self.permanent,
        }


def troubled(connection: redis.Redis, queue_name: str, *, limit: int = 20) -> list[JobState]:
    """Retrying jobs (soonest first), then failed ones (newest first), of every queue."""
    retrying: list[JobState] = []
    failed: list[JobState] = []
    for name in rqjobs.queue_names(queue_name):
        scheduled = ScheduledJobRegistry(name, connection=connection)  # type: ignore[no-untyped-call]
        retrying += _read(connection, name, scheduled, "retrying", limit, newest_first=False)
        dead = FailedJobRegistry(name, connection=connection)
        failed += _read(connection, name, dead, "failed", limit, newest_first=True)
    far = datetime.max.replace(tzinfo=UTC)
    retrying.sort(key=lambda job: job.when or far)
    failed.sort(key=lambda job: job.when or far, reverse=True)
    return retrying[:limit] + failed[:limit]


def _read(
    connection: redis.Redis,
    queue: str,
    registry: BaseRegistry,
    state: State,
    limit: int,
    *,
    newest_first: bool,
) -> list[JobState]:
    # the registry's sorted set directly: no cleanup (a read must not write), any RQ version
    ids = connection.zrange(registry.key, 0, limit - 1, desc=newest_first)
    found = []
    for raw in ids:
        job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            job = rqjobs.BumperJob.fetch(job_id, connection=connection)
        except NoSuchJobError:  # expired between the two reads
            continue
        if state == "retrying" and not _meta(job, "retry"):
            continue  # scheduled, but not a retry: the next registry polling tick
        found.append(_state(job, queue, state))
    return found


def _state(job: Job, queue: str, state: State) -> JobState:
    described = str(job.description or job.id)[:200]
    if state == "retrying":
        retry = _meta(job, "retry")
        return JobState(
            job_id=job.id,
            queue=queue,
            description=described,
            state=state,
            reason=str(retry.get("reason") or "unknown"),
            message=str(retry.get("message") or ""),
            when=_parse_time(retry.get("next_attempt")),
            attempt=retry.get("attempt") if isinstance(retry.get("attempt"), int) else None,
        )
    failure = _meta(job, "failure")
    return JobState(
        job_id=job.id,
        queue=queue,
        description=described,
        state=state,
        reason=str(failure.get("reason") or "unknown"),
        message=str(failure.get("message") or "no reason recorded; see the worker log"),
        when=_aware(job.ended_at),
        permanent=bool(failure.get("permanent", True)),
    )


def _meta(job: Job, key: str) -> dict[str, Any]:
    meta = job.meta if isinstance(job.meta, dict) else {}
    value = meta.get(key)
    return value if isinstance(value, dict) else {}


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _aware(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
