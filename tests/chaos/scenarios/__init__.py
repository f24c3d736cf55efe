"""One module per chaos scenario, each with ``NAME`` and ``run(workdir) -> Result``.

``SCENARIOS`` is the order ``make chaos`` runs them in: the acceptance points first. A new
scenario is a module here with a line in ``SCENARIOS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.chaos.harness import Result
from tests.chaos.scenarios import (
    burst,
    coalesce,
    failover,
    forge_storm,
    git_refused,
    kill_mid_pr,
    kill_mid_push,
    redis_restart,
    web_kill,
)

SCENARIOS: dict[str, Callable[[Path], Result]] = {
    module.NAME: module.run
    for module in (
        failover,
        kill_mid_push,
        kill_mid_pr,
        redis_restart,
        coalesce,
        forge_storm,
        git_refused,
        web_kill,
        burst,
    )
}
