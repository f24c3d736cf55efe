"""Deduplicate a delivery and enqueue its events in one atomic Redis step.

Why one Lua script rather than ``SET NX`` followed by ``queue.enqueue``: the dedup mark and
the jobs must be written together or not at all. With two steps, Redis dying between them
would leave a mark without a job, and the sender's retry would be answered "duplicate": a
lost delivery. The script runs atomically (and lands in the AOF as one unit), so after a
failure either nothing was written (the retry is accepted) or everything was (the retry is a
duplicate, and its job is already queued). It is also a single round trip on the hot path.

The jobs are ordinary RQ jobs: the hash has the fields of ``rq.job.Job.to_dict()`` (what RQ
itself writes for ``Queue.enqueue(..., unique=True)``), so ``rq`` workers, ``rq info`` and the
registries see them as their own. The job data is JSON in Bumper's job format
(``bumper.rqjobs``: never pickle, checked again when the worker loads it), and the function is
named by string (``worker.jobs.handle_event``), so the web process never imports the worker.

Durability: the 202 is sent only after Redis has executed the script. Whether that write is
on disk when Redis answers is Redis' configuration: with ``appendonly yes`` and
``appendfsync always`` Redis fsyncs the AOF before it replies, so a 202 survives a Redis
crash; ``everysec`` trades up to one second of accepted deliveries for throughput. With
replicas, ``settings.web.wait_replicas`` pipelines ``WAIT n timeout`` behind the script (same
round trip) and answers 503 when fewer replicas acknowledged, so the sender retries. The
retry waits the same way (a duplicate is only reported once replicas hold the delivery), or is
accepted again if a failover lost it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
import redis
from redis.exceptions import NoScriptError
from rq.job import Job, JobStatus

from bumper import rqjobs
from bumper.logs import utc_second
from bumper.settings import WebSettings
from bumper.web import procid

JOB_FUNC = rqjobs.HANDLE_EVENT
DEDUP_PREFIX = "bumper:dedup:"
RECENT_KEY = "bumper:web:recent"
RQ_QUEUES_KEY = "rq:queues"
RQ_QUEUE_PREFIX = "rq:queue:"
# The recent list may hold this many entries more than ``recent_deliveries`` before it is
# trimmed (the script's comment says why); readers read the newest ``recent_deliveries``.
RECENT_SLACK = 64

_SCRIPT = """
-- KEYS[1] dedup mark, KEYS[2] queue list, KEYS[3] rq:queues set, KEYS[4] recent list,
-- KEYS[5..] job hashes.  ARGV[1] dedup window (s), ARGV[2] mark value, ARGV[3] queue key,
-- ARGV[4] recent entry if accepted, ARGV[5] recent entry if duplicate, ARGV[6] recent max,
-- ARGV[7] recent slack, ARGV[8..] per job: id, 2*fields, field, value, ...
local keep = tonumber(ARGV[6])
-- The recent list is trimmed back to `keep` once it is `slack` longer (readers read the first
-- `keep`): one LTRIM, and its AOF entry, per `slack` deliveries instead of per delivery.
local slack = tonumber(ARGV[7])
local function recent(entry)
  if keep > 0 and redis.call('LPUSH', KEYS[4], entry) > keep + slack then
    redis.call('LTRIM', KEYS[4], 0, keep - 1)
  end
end
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) then
  recent(ARGV[5])
  return 0
end
local a = 8
for k = 5, #KEYS do
  local n = tonumber(ARGV[a + 1])
  -- a job id is reused only after the dedup window; start from a clean hash
  redis.call('DEL', KEYS[k])
  redis.call('HSET', KEYS[k], unpack(ARGV, a + 2, a + 1 + n))
  redis.call('RPUSH', KEYS[2], ARGV[a])
  a = a + 2 + n
end
redis.call('SADD', KEYS[3], ARGV[3])
recent(ARGV[4])
return 1
"""
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()
# The worker `bumper worker` runs (bumper.cli.worker.make_worker) loads job data with the same
# serializer; tests/web/test_rq_compat.py checks it.
_serialize = rqjobs.JobSerializer.dumps


class NotReplicated(redis.exceptions.RedisError):
    """Fewer replicas than ``wait_replicas`` acknowledged the write in time."""


@dataclass(frozen=True)
class Submission:
    accepted: bool  # False: a duplicate of a delivery seen within the window
    job_ids: tuple[str, ...]


def dedup_digest(receiver: str, delivery_key: str) -> str:
    """Stable digest of (receiver, delivery key); names the dedup mark and the job ids."""
    return hashlib.sha256(f"{receiver}\0{delivery_key}".encode()).hexdigest()


def job_ids(digest: str, count: int) -> tuple[str, ...]:
    """Deterministic RQ job ids (``[A-Za-z0-9_-]``) from the delivery's ``dedup_digest``: the
    same delivery gives the same ids."""
    stem = digest[:24]
    return tuple(f"ev-{stem}-{i}" for i in range(count))


class Intake:
    """Writes deliveries to Redis. One per app; holds no per-request state."""

    def __init__(
        self, client: redis.Redis, queue_name: str, web: WebSettings, job_timeout: int
    ) -> None:
        self.client = client
        self.connections = ThreadConnections(client)
        self.job_timeout_text = str(job_timeout)
        self.queue_name = queue_name
        self.queue_key = RQ_QUEUE_PREFIX + queue_name
        self.web = web

    def submit(
        self,
        receiver: str,
        delivery_key: str,
        event_dicts: Sequence[dict[str, Any]],
        recent_accepted: str,
        recent_duplicate: str,
        digest: str | None = None,
    ) -> Submission:
        """Mark the delivery seen and enqueue one job per event, atomically.

        ``digest``: ``dedup_digest(receiver, delivery_key)`` when the caller has it already.
        Raises ``redis.RedisError`` (including ``NotReplicated``) when the outcome is not
        known to be safe: the caller answers 503 and the sender retries.
        """
        if digest is None:
            digest = dedup_digest(receiver, delivery_key)
        ids = job_ids(digest, len(event_dicts))
        keys: list[str] = [
            DEDUP_PREFIX + digest,
            self.queue_key,
            RQ_QUEUES_KEY,
            RECENT_KEY,
        ]
        args: list[Any] = [
            self.web.dedup_window_seconds,
            delivery_key[:200],
            self.queue_key,
            recent_accepted,
            recent_duplicate,
            self.web.recent_deliveries,
            RECENT_SLACK,
        ]
        stamp = rq_timestamp(time.time())
        for job_id, data in zip(ids, event_dicts, strict=True):
            fields = self._job_fields(data, stamp)
            keys.append(Job.redis_job_namespace_prefix + job_id)
            args.append(job_id)
            args.append(len(fields))
            args.extend(fields)
        accepted = self._run(keys, args)
        return Submission(accepted=accepted, job_ids=ids)

    def _job_fields(self, data: dict[str, Any], stamp: str) -> list[Any]:
        """The hash of ``queue.enqueue(JOB_FUNC, data, job_id=...)``, built directly.

        Same fields and encodings as ``Job.to_dict()`` (what RQ's own unique-enqueue script
        writes), minus the empty ones, which ``Job.restore`` reads as empty anyway, and with
        ``data`` left uncompressed, which ``Job.restore`` accepts (it falls back when
        ``zlib.decompress`` fails). ``Job.create`` + ``to_dict`` + zlib cost several times
        more on the hot path. tests/web/test_rq_compat.py checks that RQ reads these jobs
        back and that a real RQ worker runs them.
        """
        return [
            "created_at",
            stamp,
            "enqueued_at",
            stamp,
            "data",
            _serialize([JOB_FUNC, None, [data], {}]),
            "origin",
            self.queue_name,
            "description",
            _describe(data),
            "timeout",
            self.job_timeout_text,
            "status",
            JobStatus.QUEUED.value,
        ]

    def _run(self, keys: list[str], args: list[Any]) -> bool:
        replicas = self.web.wait_replicas
        for attempt in (1, 2):
            try:
                if not replicas:
                    return bool(
                        self.connections.call("EVALSHA", _SCRIPT_SHA, len(keys), *keys, *args)
                    )
                pipe = self.client.pipeline(transaction=False)
                pipe.evalsha(_SCRIPT_SHA, len(keys), *keys, *args)
                pipe.wait(replicas, self.web.wait_timeout_ms)
                result, acked = pipe.execute()
                if int(acked) < replicas:
                    raise NotReplicated(f"{acked} of {replicas} replicas acknowledged")
                return bool(result)
            except NoScriptError:
                # Redis restarted or was flushed: scripts are not persisted. Load and retry.
                if attempt == 2:
                    raise
                self.client.script_load(_SCRIPT)
        raise AssertionError("unreachable")

    def queue_depth(self) -> int:
        return int(self.client.llen(self.queue_key))


class ThreadConnections:
    """One Redis connection per thread, for the intake script: the one command per delivery.

    Why not ``client.evalsha``: redis-py's command path (pool checkout and release, retry
    wrapper, observability hooks, argument packing in Python) costs about 40 µs of CPU per
    call, more than half of the client side and a tenth of a delivery; under gthread that is
    GIL time every other thread waits for. A gthread worker's threads live as long as the
    worker, so each keeps its own connection, made with the client's own settings (address,
    TLS, password, database, timeouts, health checks). A connection dropped by the thread
    is closed with it, not leaked into the pool.

    Failures behave as the client's ``Retry(NoBackoff(), 1)``: a connection or timeout error
    closes the connection and the command is sent once more on a new one (the intake script
    is idempotent: a retry of a script that did run is a duplicate); a second failure raises.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._pool: Any = client.connection_pool
        self._local = threading.local()

    def _connection(self) -> Any:
        local = self._local
        # A forked child must not share its parent's socket (gunicorn forks after preload).
        if getattr(local, "pid", None) != procid.pid():
            local.connection = self._pool.connection_class(**self._pool.connection_kwargs)
            local.pid = procid.pid()
        return local.connection

    def call(self, *command: Any) -> Any:
        packed = [hiredis.pack_command(command)]
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.send_packed_command(packed)
                return connection.read_response()
            except (redis.ConnectionError, redis.TimeoutError):
                connection.disconnect()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def rq_timestamp(seconds: float) -> str:
    """``rq.utils.utcformat(now())`` (``2026-11-27T06:06:57.938150Z``), one strftime a second."""
    whole = int(seconds)
    return f"{utc_second(whole)}.{int((seconds - whole) * 1_000_000):06d}Z"


def _describe(data: dict[str, Any]) -> str:
    """A short job description for ``rq info`` (RQ's default repr would dump the whole dict)."""
    if data.get("type") == "build.finished":
        subject = f"{data.get('repository') or '?'}@{(data.get('commit') or '?')[:12]}"
    else:
        subject = f"{data.get('image') or '?'}:{data.get('tag') or data.get('digest') or '?'}"
    return f"{data.get('type')} {subject} via {data.get('source') or '?'}"
