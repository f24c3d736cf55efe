"""The agent stays small: no flask, rq, PyGithub, python-gitlab, or Bumper's web/worker/scm.

The reconcile engine ships in the agent image too, and takes no redis either: bad-image
records reach Redis through a callback its caller passes in.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import bumper.agent
import bumper.reconcile

FORBIDDEN = ("flask", "rq", "github", "gitlab", "bumper.web", "bumper.scm", "worker")
AGENT_DIR = Path(bumper.agent.__file__).parent
RECONCILE_DIR = Path(bumper.reconcile.__file__).parent


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_agent_modules_import_nothing_forbidden() -> None:
    for path in sorted(AGENT_DIR.glob("*.py")):
        for name in imported_names(path):
            assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), (path, name)


LOW_LEVEL = {"kube", "apply", "render", "manifests", "health", "inventory", "status", "badimages"}


def bumper_modules(path: Path) -> set[str]:
    """``from bumper.agent import apply`` counts as ``bumper.agent.apply``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bumper"):
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("bumper"))
    return names


def test_the_engine_imports_only_the_agents_low_level_modules() -> None:
    agent = tuple(f"bumper.agent.{m}" for m in LOW_LEVEL)
    allowed = (*agent, "bumper.core", "bumper.errors", "bumper.reconcile")
    for path in sorted(RECONCILE_DIR.glob("*.py")):
        for name in bumper_modules(path):
            assert name.startswith(allowed), (path, name)
        for name in imported_names(path):
            assert not any(name == f or name.startswith(f + ".") for f in (*FORBIDDEN, "redis"))


def test_running_the_agent_loads_nothing_forbidden() -> None:
    code = "import sys, bumper.agent.main, bumper.cli.agent\nprint('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []
