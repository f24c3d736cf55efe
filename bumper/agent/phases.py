"""Where a sync's time goes: seconds per phase, for ``bumper_agent_sync_phase_seconds``.

The phases, in the order a sync runs them: ``fetch`` (the branch tip), ``render``, ``plan``
(resolve and mark every object), ``list`` (one LIST per kind), ``dry_run`` (the checks before
anything is applied), ``apply``, ``prune``, ``record`` (inventory and counts) and ``health``
(waiting for the changed workloads). A phase with nothing to do (no change to check or apply,
nothing to prune, no workload to wait for, a render already cached) is not timed and counts
0 s, and every phase is set after each sync, so the gauge never shows an older sync's figure.
Operators read them to tell a slow render (a big Helm chart) from a slow API server or a slow
rollout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PHASES = ("fetch", "render", "plan", "list", "dry_run", "apply", "prune", "record", "health")


@dataclass
class Clock:
    """Seconds per phase of one sync; a phase timed twice adds up."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.monotonic() - started

    def every_phase(self) -> dict[str, float]:
        """Each of ``PHASES`` with its seconds (0 when it did not run)."""
        return {phase: self.seconds.get(phase, 0.0) for phase in PHASES}
