"""The worker's metrics, kept in Redis: every job process counts, every web process shows them.

Why Redis and not prometheus_client's memory or multiprocess files (docs/metrics.md):
``bumper worker`` forks a work horse per job, and the horse exits when its job ends, so a
counter kept in its memory is lost; the multiprocess mode would leave one file per job
(thousands a day, all read at every scrape) and needs the web and the workers to share a
directory, which separate pods do not. Redis is where the jobs already are: a recording is one
``HINCRBYFLOAT`` (a histogram observation one pipelined round trip), atomic whichever process,
pod or node sends it, and the web's ``/metrics`` (``bumper.web.metrics``) reads the totals at
scrape time. The series of one event are written together (``Recorder.batch``: a job run's
count and duration) and read together, each side in one MULTI/EXEC, so a scrape never shows
a job counted whose duration is not there yet. Every web replica shows the same cluster-wide
values: aggregate them with ``max``, not ``sum``.

Layout: one hash per series, ``bumper:metrics:<series>``; a field is the JSON list of label
values (a histogram's adds ``\\t<bucket index>`` or ``\\tsum``). Labels come from bounded sets
(job types, outcomes, reason slugs, HTTP statuses, configured forge hosts and rule names), so
the hashes stay small.

Recording is best effort: a Redis failure is logged at DEBUG and never fails a job (the job
itself needs Redis, and will say so). Must not: import prometheus_client (the worker image
does without it) or anything of the worker.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import redis

log = logging.getLogger("bumper.metrics")

PREFIX = "bumper:metrics:"
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
Kind = Literal["counter", "gauge", "histogram"]
Write = Callable[["redis.client.Pipeline"], object]


@dataclass(frozen=True)
class Series:
    """One metric: its Prometheus name (a counter's without ``_total``), kind, help, labels."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]

    @property
    def key(self) -> str:
        return PREFIX + self.name


JOBS = Series(
    "bumper_worker_jobs",
    "counter",
    "jobs run by the workers, by type (event, bump, refused) and outcome (succeeded, retrying, "
    "failed)",
    ("type", "outcome"),
)
JOB_DURATION = Series(
    "bumper_worker_job_duration_seconds",
    "histogram",
    "time one run of a job took, by type and outcome",
    ("type", "outcome"),
)
JOB_RETRIES = Series(
    "bumper_worker_job_retries",
    "counter",
    "job runs that ended in a retry later, by type and reason",
    ("type", "reason"),
)
JOB_FAILURES = Series(
    "bumper_worker_job_failures",
    "counter",
    "jobs that failed, by type and reason (e.g. push-refused)",
    ("type", "reason"),
)
FORGE_REQUESTS = Series(
    "bumper_forge_requests",
    "counter",
    "forge API requests by forge, API host and HTTP status (error: no reply)",
    ("forge", "host", "status"),
)
FORGE_RATE_LIMIT = Series(
    "bumper_forge_rate_limit_remaining",
    "gauge",
    "requests left in the forge's rate-limit window, from the last reply's headers",
    ("forge", "host"),
)
PUSH_RETRIES = Series(
    "bumper_git_push_retries",
    "counter",
    "git pushes made again within a job because the branch moved, by git's reason",
    ("reason",),
)
BUMPS = Series(
    "bumper_bumps",
    "counter",
    "bump runs by image rule and result (commit, pr, unchanged)",
    ("rule", "result"),
)
SERIES = (
    JOBS,
    JOB_DURATION,
    JOB_RETRIES,
    JOB_FAILURES,
    FORGE_REQUESTS,
    FORGE_RATE_LIMIT,
    PUSH_RETRIES,
    BUMPS,
)


def _field(series: Series, labels: tuple[str, ...]) -> str:
    if len(labels) != len(series.labels):
        raise ValueError(f"{series.name} takes labels {series.labels}, not {labels}")
    return json.dumps([str(label)[:200] for label in labels])


class Recorder:
    """Writes observations to Redis; see the module docstring."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def inc(self, series: Series, *labels: str, by: float = 1.0) -> None:
        self._send(lambda pipe: pipe.hincrbyfloat(series.key, _field(series, labels), by))

    def set(self, series: Series, value: float, *labels: str) -> None:
        self._send(lambda pipe: pipe.hset(series.key, _field(series, labels), value))

    def observe(self, series: Series, seconds: float, *labels: str) -> None:
        field = _field(series, labels)
        bucket = next(
            (i for i, bound in enumerate(DURATION_BUCKETS) if seconds <= bound),
            len(DURATION_BUCKETS),
        )

        def write(pipe: redis.client.Pipeline) -> None:
            pipe.hincrbyfloat(series.key, f"{field}\t{bucket}", 1)
            pipe.hincrbyfloat(series.key, f"{field}\tsum", seconds)

        self._send(write)

    @contextlib.contextmanager
    def batch(self) -> Iterator[Recorder]:
        """A recorder whose writes are sent when the block ends, in one transaction: a scrape
        sees all of them or none (nothing is sent if the block raises)."""
        batch = _Batch(self.client)
        yield batch
        self._write(batch.writes)

    def _send(self, write: Write) -> None:
        self._write([write])

    def _write(self, writes: list[Write]) -> None:
        try:
            # MULTI/EXEC, still one round trip: a histogram's bucket and sum, or a batch, land
            # between two scrapes (``read``), never across one
            with self.client.pipeline(transaction=True) as pipe:
                for write in writes:
                    write(pipe)
                pipe.execute()
        except (redis.RedisError, OSError) as error:
            log.debug("metrics not recorded: %s", type(error).__name__)


class _Batch(Recorder):
    """Collects writes for ``Recorder.batch`` instead of sending them."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self.writes: list[Write] = []

    def _send(self, write: Write) -> None:
        self.writes.append(write)


@dataclass(frozen=True)
class Histogram:
    """One label set's histogram: cumulative ``(upper bound, count)`` pairs and the sum."""

    buckets: list[tuple[float, float]]
    sum: float


def read(client: redis.Redis) -> dict[Series, dict[tuple[str, ...], float | Histogram]]:
    """Every series' current values, by label values (one round trip, one transaction)."""
    with client.pipeline(transaction=True) as pipe:
        for series in SERIES:
            pipe.hgetall(series.key)
        replies = pipe.execute()
    return {series: _values(series, raw) for series, raw in zip(SERIES, replies, strict=True)}


def _values(series: Series, raw: dict[bytes, bytes]) -> dict[tuple[str, ...], float | Histogram]:
    if series.kind != "histogram":
        return {
            labels: float(value)
            for labels, value in ((_labels(series, k), v) for k, v in raw.items())
            if labels is not None
        }
    counts: dict[tuple[str, ...], list[float]] = defaultdict(
        lambda: [0.0] * (len(DURATION_BUCKETS) + 1)
    )
    sums: dict[tuple[str, ...], float] = defaultdict(float)
    for key, value in raw.items():
        field, _, part = key.decode(errors="replace").rpartition("\t")
        labels = _labels(series, field.encode())
        if labels is None:
            continue
        if part == "sum":
            sums[labels] += float(value)
        elif part.isdigit() and int(part) <= len(DURATION_BUCKETS):
            counts[labels][int(part)] += float(value)
    return {labels: _cumulative(per_bucket, sums[labels]) for labels, per_bucket in counts.items()}


def _cumulative(per_bucket: Iterable[float], total: float) -> Histogram:
    bounds = [*DURATION_BUCKETS, float("inf")]
    running, buckets = 0.0, []
    for bound, count in zip(bounds, per_bucket, strict=True):
        running += count
        buckets.append((bound, running))
    return Histogram(buckets, total)


def _labels(series: Series, raw: bytes) -> tuple[str, ...] | None:
    """The label values of a field, or None for a field this version does not understand."""
    try:
        values = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(values, list) or len(values) != len(series.labels):
        return None
    return tuple(str(value) for value in values)
