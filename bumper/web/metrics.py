"""Prometheus metrics of the receiver, and the ``/metrics`` exposition.

Each app gets its own ``CollectorRegistry`` (several apps in one test process must not
collide on the global one). Under gunicorn, ``gunicorn_conf`` sets
``PROMETHEUS_MULTIPROC_DIR`` before any worker imports ``prometheus_client``: counters and
histograms are then kept in per-process files and ``render`` merges every worker's values
with ``MultiProcessCollector``. What Redis holds is read at scrape time, so it is correct
whichever worker answers: the depth of the event queue, and (with a Redis client) the bump
queue's, the number of jobs in each of RQ's registries per queue (started, scheduled, i.e.
waiting to retry, deferred, failed), and the series the bump workers record in Redis
(``bumper.jobmetrics``: jobs, durations, retries, forge requests, rate limits, push races,
bumps). So one scrape of any web process shows the whole worker fleet; docs/metrics.md lists
every series.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from rq import Queue
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from bumper import jobmetrics, rqjobs

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNKNOWN_RECEIVER = "_unknown"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def multiprocess_mode() -> bool:
    """True when prometheus_client chose file-backed values (the env var was set at import)."""
    return values.ValueClass is not values.MutexValue


# RQ's registries of a queue, by the state a job in them is in.
REGISTRIES = {
    "started": StartedJobRegistry,
    "scheduled": ScheduledJobRegistry,  # jobs waiting for their retry (or a scheduled time)
    "deferred": DeferredJobRegistry,
    "failed": FailedJobRegistry,
}


class QueueDepthCollector(Collector):
    """``bumper_redis_up``, ``bumper_queue_depth``, ``bumper_queue_jobs`` and the worker's
    series (``bumper.jobmetrics``), read when Prometheus scrapes. Without a client, only the
    event queue's depth (through ``depth``)."""

    def __init__(
        self, queue_name: str, depth: Callable[[], int], client: redis.Redis | None = None
    ) -> None:
        self.queue_name = queue_name
        self.depth = depth
        self.client = client

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("bumper_redis_up", "1 when Redis answered the last scrape")
        depth = GaugeMetricFamily(
            "bumper_queue_depth", "jobs waiting in the RQ queue", labels=["queue"]
        )
        jobs = GaugeMetricFamily(
            "bumper_queue_jobs",
            "jobs in each RQ registry of a queue (started, scheduled: waiting to retry, "
            "deferred, failed)",
            labels=["queue", "state"],
        )
        worker: list[Metric] = []
        try:
            depth.add_metric([self.queue_name], self.depth())
            if self.client is not None:
                self._registries(depth, jobs)
                worker = list(_worker_families(jobmetrics.read(self.client)))
            up.add_metric([], 1)
        except Exception:  # any Redis failure: report it as a metric, never fail the scrape
            up.add_metric([], 0)
            worker = []
        return [up, depth, jobs, *worker]

    def _registries(self, depth: GaugeMetricFamily, jobs: GaugeMetricFamily) -> None:
        assert self.client is not None
        names = rqjobs.queue_names(self.queue_name)
        with self.client.pipeline(transaction=False) as pipe:
            for name in names[1:]:
                pipe.llen(Queue.redis_queue_namespace_prefix + name)
            for name in names:
                for registry in REGISTRIES.values():
                    pipe.zcard(registry(name, connection=self.client).key)
            replies = iter(pipe.execute())
        for name in names[1:]:
            depth.add_metric([name], next(replies))
        for name in names:
            for state in REGISTRIES:
                jobs.add_metric([name, state], next(replies))


def _worker_families(
    values: dict[jobmetrics.Series, dict[tuple[str, ...], float | jobmetrics.Histogram]],
) -> Iterable[Metric]:
    for series, samples in values.items():
        if series.kind == "histogram":
            histogram = HistogramMetricFamily(series.name, series.help, labels=series.labels)
            for labels, value in sorted(samples.items()):
                if isinstance(value, jobmetrics.Histogram):
                    buckets = [(_bound(bound), count) for bound, count in value.buckets]
                    histogram.add_metric(list(labels), buckets, value.sum)
            yield histogram
            continue
        kind = CounterMetricFamily if series.kind == "counter" else GaugeMetricFamily
        family = kind(series.name, series.help, labels=series.labels)
        for labels, value in sorted(samples.items()):
            if not isinstance(value, jobmetrics.Histogram):
                family.add_metric(list(labels), value)
        yield family


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class WebMetrics:
    def __init__(
        self, queue_name: str, depth: Callable[[], int], client: redis.Redis | None = None
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "bumper_webhook_deliveries",
            "webhook deliveries by receiver and result (accepted, duplicate, ignored, "
            "out-of-scope, or the rejection reason)",
            ["receiver", "result"],
            registry=self.registry,
        )
        self.events = Counter(
            "bumper_webhook_events",
            "events enqueued by receiver and event type",
            ["receiver", "type"],
            registry=self.registry,
        )
        self.dropped_events = Counter(
            "bumper_webhook_events_dropped",
            "events of verified deliveries dropped before the queue, by receiver and reason "
            "(out-of-scope: an image or repository the receiver may not speak for)",
            ["receiver", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bumper_webhook_duration_seconds",
            "time from request start to reply on POST /hooks/<receiver>",
            ["receiver"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue = QueueDepthCollector(queue_name, depth, client)
        self.registry.register(self.queue)
        # Label children, looked up once: ``labels()`` validates and locks on every call.
        self._children: dict[tuple[str, ...], Any] = {}
        self._observers: dict[tuple[str, str], _Observer] = {}
        self._event_incs: dict[tuple[str, str], Callable[[float], None]] = {}
        self._extra: list[Collector] = []

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def add_collector(self, collector: Collector) -> None:
        """A series read at scrape time by another module (``bumper.web.pollmetrics``)."""
        self.registry.register(collector)
        self._extra.append(collector)

    def observe(self, receiver: str, result: str, seconds: float) -> None:
        """One finished request on ``/hooks/<receiver>``."""
        observer = self._observers.get((receiver, result))
        if observer is None:
            observer = self._observers[receiver, result] = _Observer(
                self._child(self.deliveries, receiver, result), self._child(self.latency, receiver)
            )
        observer.observe(seconds)

    def event(self, receiver: str, event_type: str) -> None:
        inc = self._event_incs.get((receiver, event_type))
        if inc is None:  # the child's value write, as ``_Observer`` keeps it
            inc = self._child(self.events, receiver, event_type)._value.inc
            self._event_incs[receiver, event_type] = inc
        inc(1)

    def dropped(self, receiver: str, reason: str, count: int) -> None:
        self._child(self.dropped_events, receiver, reason).inc(count)

    def render(self) -> bytes:
        """The exposition text: every worker's values under gunicorn, this process's otherwise."""
        if multiprocess_mode():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self.queue)
            for collector in self._extra:
                registry.register(collector)
            return generate_latest(registry)
        return generate_latest(self.registry)


class _Observer:
    """One delivery's counter and latency histogram writes, to the children's values directly.

    ``Counter.inc`` and ``Histogram.observe`` check their arguments and scan the buckets in
    Python before the value write (a file-backed write under gunicorn): for the receiver's own
    children, with a count of 1 and a duration, the checks never fail, so they are skipped and
    the bucket is found by bisection. Same values, same files.
    """

    def __init__(self, counter: Any, histogram: Any) -> None:
        self._count = counter._value.inc
        self._sum = histogram._sum.inc
        self._bounds = tuple(histogram._upper_bounds)
        self._buckets = tuple(bucket.inc for bucket in histogram._buckets)

    def observe(self, seconds: float) -> None:
        self._count(1)
        self._sum(seconds)
        # Histogram.observe counts the first bucket whose bound is >= the value (+Inf last).
        self._buckets[bisect.bisect_left(self._bounds, seconds)](1)
