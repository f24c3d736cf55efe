"""A worker is SIGKILLed (with its work horse) while it creates the PR; the request then
completes on the forge. The re-run (another worker, after the abandoned-job lease) finds the
PR by its branch: one PR, the right content."""

from __future__ import annotations

from pathlib import Path

from tests.chaos.harness import Result
from tests.chaos.scenarios.kill_mid_push import killed_mid

NAME = "kill-9-mid-pr"


def run(workdir: Path) -> Result:
    fleet, result = killed_mid(workdir, NAME, "/pulls", "pr")
    if len(fleet.sim.repo("acme/cfg0").changes) != 1:
        result.problems.append("not exactly one PR")
    return result
