"""Registry polling's series, read from Redis when Prometheus scrapes (``bumper.registry.state``):

- ``bumper_poll_last_timestamp_seconds{image}``: when each watched repository was last polled;
- ``bumper_poll_ok{image}``: 1 when its last poll succeeded (``ok`` or ``baseline``), else 0;
- ``bumper_poll_caught_total{image}``: pushes the poll found that no webhook had reported;
- ``bumper_poll_requests_total`` / ``bumper_poll_errors_total`` / ``bumper_poll_events_total``:
  registry requests made, failed polls, and events queued, by every worker.

Must not: fail a scrape (a Redis error yields no poll series), or import the worker.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bumper.registry import state


class PollCollector(Collector):
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def collect(self) -> Iterable[Metric]:
        try:
            rows = state.poll_status(self.client)
            totals = state.totals(self.client)
        except redis.RedisError:
            return []
        last = GaugeMetricFamily(
            "bumper_poll_last_timestamp_seconds", "last poll of a repository", labels=["image"]
        )
        ok = GaugeMetricFamily("bumper_poll_ok", "1 when the last poll succeeded", labels=["image"])
        caught = CounterMetricFamily(
            "bumper_poll_caught",
            "pushes found by polling that no webhook reported",
            labels=["image"],
        )
        for row in rows:
            if row["last_poll"] is not None:
                last.add_metric([row["image"]], row["last_poll"])
            ok.add_metric([row["image"]], 1 if row["result"] in ("ok", "baseline") else 0)
            caught.add_metric([row["image"]], row["caught"])
        found: list[Metric] = [last, ok, caught]
        for name in ("requests", "errors", "events"):
            family = CounterMetricFamily(f"bumper_poll_{name}", f"registry polling: {name}")
            family.add_metric([], totals[name])
            found.append(family)
        return found
