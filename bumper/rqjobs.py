"""The RQ job format Bumper writes and runs: JSON data, and only Bumper's own job functions.

RQ's default serializer is pickle, and a pickled job is code: whoever can write to Redis could
make the worker run anything. So every queue, worker and job Bumper builds uses
``JobSerializer`` (JSON, bounded in size) and ``BumperJob``, which checks each job as it is
loaded from Redis:

- the function is one of ``JOB_FUNCTIONS`` (``handle_event`` with one event dict, ``run_bump``
  with one target key, ``poll_registries`` and ``evaluate_promotions`` with one tick id), with
  no instance and no keyword arguments;
- the job names no callback (``on_success``/``on_failure``/``on_stopped`` are import paths of
  functions) and no webhook (an HTTP request the worker would send).

A job that fails a check is not run as written: it is rewritten in memory into a call of
``refused(reason)``, which logs one line and fails the job (``job.meta["failure"]``, reason
``refused-job``), so it lands in the failed-job registry and the worker moves on. Nothing from
the crafted hash is imported or called. Jobs pickled by a Bumper before this format are
refused the same way: drain the queues before upgrading (docs/worker.md).

The receiver writes the job hash itself (``bumper.web.intake``) with ``JobSerializer.dumps``;
the worker (``bumper.cli.worker``, ``worker.jobs``) builds its queues with ``queue()``.
Must not: import the worker (the web imports this module) or accept any data JSON cannot hold.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, NoReturn

from rq import Queue, Retry, get_current_job
from rq.exceptions import DeserializationError
from rq.job import Job
from rq.utils import import_attribute

from bumper import jobmetrics, logs
from bumper.core import changes, events
from bumper.errors import PermanentError

if TYPE_CHECKING:
    import redis

log = logging.getLogger("bumper.worker")

HANDLE_EVENT = "worker.jobs.handle_event"
RUN_BUMP = "worker.jobs.run_bump"
REFUSED = "bumper.rqjobs.refused"
POLL_REGISTRIES = "worker.jobs.poll_registries"
EVALUATE_PROMOTIONS = "worker.jobs.evaluate_promotions"
JOB_FUNCTIONS = (HANDLE_EVENT, RUN_BUMP, REFUSED, POLL_REGISTRIES, EVALUATE_PROMOTIONS)
# A job's data is one event (the receiver caps a whole body at ``max_body_bytes``, 4 MiB by
# default, and an event is a small part of it) or a target key; results and meta are small.
MAX_BYTES = 1_048_576
MAX_KEY_CHARS = 1_000
_CALLBACKS = ("_success_callback_name", "_failure_callback_name", "_stopped_callback_name")


class JobSerializer:
    """RQ's serializer protocol over JSON: data only, at most ``MAX_BYTES`` to read."""

    @staticmethod
    def dumps(obj: Any) -> bytes:
        # NaN and Infinity stay allowed: a webhook body may hold them (Python's json reads them)
        return _encode(obj).encode()

    @staticmethod
    def loads(data: bytes) -> Any:
        if len(data) > MAX_BYTES:
            raise ValueError(f"job data of {len(data)} bytes is over {MAX_BYTES}")
        return json.loads(data)


def _plain(obj: Any) -> Any:
    """A job's ``Retry`` (RQ keeps it as the run's result) as data; nothing else is encoded."""
    if isinstance(obj, Retry):
        return {"retry": {"max": obj.max, "intervals": list(obj.intervals)}}
    raise TypeError(f"{type(obj).__name__} is not job data")


# One encoder for every job (the receiver writes one per event): ``json.dumps`` with options
# builds a new one per call. Same bytes.
_encode = logs.compact_json(default=_plain)


def bump_queue_name(queue_name: str) -> str:
    """Bump jobs have their own queue, listened to after the event queue: a worker routes
    every event already queued before it bumps, so a burst lands as one commit."""
    return f"{queue_name}-bumps"


def queue_names(queue_name: str) -> tuple[str, str]:
    """Every queue a worker serves, in priority order: events, then bumps."""
    return (queue_name, bump_queue_name(queue_name))


def queue(name: str, connection: redis.Redis) -> Queue:
    """An RQ queue that writes and reads Bumper's job format."""
    return Queue(name, connection=connection, job_class=BumperJob, serializer=JobSerializer)


class BumperJob(Job):
    """An RQ job checked as it is loaded (see the module docstring)."""

    def __init__(
        self, id: str | None = None, connection: redis.Redis | None = None, serializer: Any = None
    ) -> None:
        # whatever serializer a caller (RQ itself included) passes: never pickle
        super().__init__(id, connection=connection, serializer=JobSerializer)
        self.refusal: str | None = None

    def restore(self, raw_data: Any) -> Any:
        super().restore(raw_data)
        self.refusal = _refusal(self)
        if self.refusal is not None:
            _neutralise(self, self.refusal)

    @property
    def func(self) -> Any:
        # Checked again at call time: nothing outside JOB_FUNCTIONS is ever imported.
        name = self.func_name
        if name not in JOB_FUNCTIONS or self.instance is not None:
            raise DeserializationError(f"job function {str(name)[:80]!r} is not a Bumper job")
        return import_attribute(name)


def _refusal(job: Job) -> str | None:
    """Why ``job`` must not run as written, or None."""
    try:
        name, instance, args, kwargs = job.func_name, job.instance, job.args, job.kwargs
    except DeserializationError:
        return "its data is not Bumper's JSON job format (pickled by an older Bumper, or forged)"
    if any(getattr(job, attribute, None) for attribute in _CALLBACKS):
        return "it names a callback; Bumper's jobs have none"
    if getattr(job, "webhooks", None):  # RQ >= 3
        return "it names a webhook; Bumper's jobs have none"
    if name not in JOB_FUNCTIONS or instance is not None:
        return f"function {str(name)[:80]!r} is not a Bumper job"
    if kwargs or not isinstance(args, list | tuple):
        return f"{name} takes positional arguments only"
    return _bad_arguments(name, list(args))


def _bad_arguments(name: str, args: list[Any]) -> str | None:
    short = name.rsplit(".", 1)[-1]
    if name == REFUSED:
        texts = len(args) == 2 and all(isinstance(a, str) and len(a) <= MAX_KEY_CHARS for a in args)
        return None if texts else "refused takes a reason and a delivery id"
    if len(args) != 1:
        return f"{short} takes exactly one argument"
    if name in (POLL_REGISTRIES, EVALUATE_PROMOTIONS):
        tick = args[0]
        return None if isinstance(tick, str) and 0 < len(tick) <= 100 else "bad poll tick id"
    if name == RUN_BUMP:
        key = args[0]
        return None if isinstance(key, str) and 0 < len(key) <= MAX_KEY_CHARS else "bad target key"
    if not isinstance(args[0], dict):
        return "handle_event takes an event dict"
    try:
        events.from_dict(args[0])
    except (TypeError, ValueError) as error:
        return f"malformed event: {str(error)[:200]}"
    return None


def _delivery_id(job: Job) -> str:
    """The delivery an event job claims to serve, for the refusal's log line; else ''."""
    try:
        claimed = job.args[0].get("delivery_id") if job.func_name == HANDLE_EVENT else None
    except (DeserializationError, AttributeError, IndexError, KeyError, TypeError):
        return ""
    return claimed[:200] if isinstance(claimed, str) else ""


def _neutralise(job: Job, reason: str) -> None:
    """Make ``job`` a call of ``refused(reason, delivery_id)``: no callback, no webhook, and
    nothing named by the hash is imported."""
    delivery = _delivery_id(job)
    for attribute in _CALLBACKS:
        setattr(job, attribute, None)
    job.webhooks = []
    job.func_name = REFUSED
    job.instance = None
    job.args = (reason, delivery)
    job.kwargs = {}


def refused(reason: str, delivery_id: str = "") -> NoReturn:
    """The job ``BumperJob`` runs instead of one that failed its checks: fail it, visibly."""
    job = get_current_job()
    job_id = job.id if job is not None else "?"
    # a forged job may call this too: its text stays one bounded line
    reason, delivery_id = changes.inline(reason, 500), changes.inline(delivery_id, 200)
    with logs.context(job_id=job_id, delivery_id=delivery_id):
        log.error("refused job %s: %s", job_id, reason)
    if job is not None:
        job.retries_left = 0
        job.meta["failure"] = {"reason": "refused-job", "message": reason, "permanent": True}
        job.save_meta()  # type: ignore[no-untyped-call]
        with jobmetrics.Recorder(job.connection).batch() as batch:
            batch.inc(jobmetrics.JOBS, "refused", "failed")
            batch.inc(jobmetrics.JOB_FAILURES, "refused", "refused-job")
    raise PermanentError(f"refused job {job_id}: {reason}", reason="refused-job")
