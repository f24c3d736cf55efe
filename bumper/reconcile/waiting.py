"""Wait for a rollout: poll workloads until all are healthy, one fails, or time runs out.

Each poll is one LIST per kind (label selector of the applier's owner), judged by the pure
rules of ``bumper.agent.health``. Polls start ``FIRST_POLL`` apart and back off to ``poll``:
a rollout that is done in a second is seen done within a tenth of one, and a slow one costs
about eight more LISTs in its first seconds, then one per ``poll`` as before. Every
workload has its own deadline: the global health timeout, or its ``bumper.dev/health-timeout``
annotation. It never applies or deletes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from bumper.agent import apply, health, kube, manifests
from bumper.agent.manifests import Key

POLL_SECONDS = 1.0
FIRST_POLL = 0.1
BACKOFF = 1.25  # about 2 s at under 0.5 s apart: most rollouts here take 1-2 s


def pauses(poll: float) -> Iterator[float]:
    """The waits between polls: ``FIRST_POLL``, growing by ``BACKOFF`` up to ``poll``."""
    pause = min(FIRST_POLL, poll)
    while True:
        yield pause
        pause = min(pause * BACKOFF, poll)


def wait_healthy(
    applier: apply.Applier,
    keys: Sequence[Key],
    known: Mapping[Key, kube.Resource],
    timeout: float,
    *,
    poll: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    timeouts: Mapping[Key, float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[Key, health.Health]:
    """The verdict per workload; one still progressing past its deadline counts as failed.

    ``timeouts`` overrides ``timeout`` per object (``manifests.health_timeouts`` reads them
    from the ``bumper.dev/health-timeout`` annotation). The first failure ends the wait.
    """
    start = clock()
    deadlines = {k: start + (timeouts or {}).get(k, timeout) for k in keys}
    resources = {known[k] for k in keys}
    waits = pauses(poll)
    while True:
        live = applier.list_live(resources)
        verdicts = {
            k: health.evaluate(live[k]) if k in live else health.Health("failed", "missing")
            for k in keys
        }
        now = clock()
        for key, verdict in verdicts.items():
            if verdict.state == "progressing" and now >= deadlines[key]:
                late = f"not healthy after {deadlines[key] - start:g}s"
                verdicts[key] = health.Health("failed", f"{late}: {verdict.message}")
        states = {h.state for h in verdicts.values()}
        if states <= {"healthy"} or "failed" in states:
            return verdicts
        sleep(next(waits))


def failures(verdicts: Mapping[Key, health.Health]) -> dict[Key, health.Health]:
    return {k: h for k, h in verdicts.items() if h.state != "healthy"}


def describe(verdicts: Mapping[Key, health.Health]) -> str:
    """``Deployment.apps ns/name: reason; ...`` in key order, for statuses and logs."""
    return "; ".join(f"{k}: {h.message or h.state}" for k, h in sorted(verdicts.items()))


def workloads(keys: Iterable[Key], known: Mapping[Key, kube.Resource]) -> list[Key]:
    """The keys that have a rollout to wait for (and a resource to list them by)."""
    return [k for k in keys if k.kind in manifests.WORKLOAD_KINDS and k in known]
