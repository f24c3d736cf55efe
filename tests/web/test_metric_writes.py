"""The receiver's metric writes (``bumper.web.metrics``) give what prometheus_client's own
``Counter.inc`` and ``Histogram.observe`` give: same samples, every bucket bound included."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.registry import Collector

from bumper.web.metrics import LATENCY_BUCKETS, WebMetrics

DURATIONS = [0.0, 1e-9, *LATENCY_BUCKETS, *(b * 1.0001 for b in LATENCY_BUCKETS), 7.5, 0.0123]


def _samples(registry: Collector | CollectorRegistry, prefix: str) -> dict[str, float]:
    return {
        sample.name + repr(sorted(sample.labels.items())): sample.value
        for family in registry.collect()
        if family.name.startswith(prefix)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_observe_and_event_write_what_the_library_writes() -> None:
    metrics = WebMetrics("q", lambda: 0)
    reference = CollectorRegistry()
    deliveries = Counter(
        "bumper_webhook_deliveries", "", ["receiver", "result"], registry=reference
    )
    latency = Histogram(
        "bumper_webhook_duration_seconds",
        "",
        ["receiver"],
        buckets=LATENCY_BUCKETS,
        registry=reference,
    )
    events = Counter("bumper_webhook_events", "", ["receiver", "type"], registry=reference)
    for index, seconds in enumerate(DURATIONS):
        result = "accepted" if index % 3 else "duplicate"
        metrics.observe("gh", result, seconds)
        deliveries.labels("gh", result).inc()
        latency.labels("gh").observe(seconds)
        metrics.event("gh", "image.pushed")
        events.labels("gh", "image.pushed").inc()
    ours = _samples(metrics.registry, "bumper_webhook_")
    assert ours == _samples(reference, "bumper_webhook_")
    assert ours  # the families above, with their buckets, counts and sums
