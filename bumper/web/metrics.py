"""Prometheus metrics of the receiver, and the ``/metrics`` exposition.

Each app gets its own ``CollectorRegistry`` (several apps in one test process must not
collide on the global one). Under gunicorn, ``gunicorn_conf`` sets
``PROMETHEUS_MULTIPROC_DIR`` before any worker imports ``prometheus_client``: counters and
histograms are then kept in per-process files and ``render`` merges every worker's values
with ``MultiProcessCollector``. The queue depth is read from Redis at scrape time, so it is
correct whichever worker answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNKNOWN_RECEIVER = "_unknown"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def multiprocess_mode() -> bool:
    """True when prometheus_client chose file-backed values (the env var was set at import)."""
    return values.ValueClass is not values.MutexValue


class QueueDepthCollector(Collector):
    """``bumper_queue_depth`` and ``bumper_redis_up``, read when Prometheus scrapes."""

    def __init__(self, queue_name: str, depth: Callable[[], int]) -> None:
        self.queue_name = queue_name
        self.depth = depth

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("bumper_redis_up", "1 when Redis answered the last scrape")
        depth = GaugeMetricFamily(
            "bumper_queue_depth", "jobs waiting in the RQ queue", labels=["queue"]
        )
        try:
            depth.add_metric([self.queue_name], self.depth())
            up.add_metric([], 1)
        except Exception:  # any Redis failure: report it as a metric, never fail the scrape
            up.add_metric([], 0)
        return [up, depth]


class WebMetrics:
    def __init__(self, queue_name: str, depth: Callable[[], int]) -> None:
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
        self.queue = QueueDepthCollector(queue_name, depth)
        self.registry.register(self.queue)
        # Label children, looked up once: ``labels()`` validates and locks on every call.
        self._children: dict[tuple[str, ...], Any] = {}
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
        self._child(self.deliveries, receiver, result).inc()
        self._child(self.latency, receiver).observe(seconds)

    def event(self, receiver: str, event_type: str) -> None:
        self._child(self.events, receiver, event_type).inc()

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
