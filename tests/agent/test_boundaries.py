"""The agent stays small at run time: starting it loads no flask, rq, redis, PyGithub,
python-gitlab, or Bumper's web/worker/scm (it reports over the web's API, never to Redis). The
static rules, which also count imports inside functions, are import-linter's
``agent-stays-small`` and ``reconcile-engine`` contracts (.importlinter)."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("flask", "rq", "redis", "github", "gitlab", "bumper.web", "bumper.scm", "worker")


def test_running_the_agent_loads_nothing_forbidden() -> None:
    code = "import sys, bumper.agent.main, bumper.cli.agent\nprint('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []
