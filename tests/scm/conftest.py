"""Helpers for the adapter tests: push real commits to the simulator over smart HTTP."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from bumper import scm
from bumper.scm.base import ScmProvider
from tests.support.forgesim import ForgeSim

PushChange = Callable[[str, str, Mapping[str, str]], str]


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": os.devnull}
    proc = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


@pytest.fixture
def push_change(forgesim: ForgeSim, tmp_path: Path) -> PushChange:
    """Clone ``repo`` over HTTP with the token, commit ``files`` on ``branch`` (forked from the
    default branch, or from the branch itself when it exists), push; return the new sha."""
    counter = iter(range(1_000_000))

    def push(full_name: str, branch: str, files: Mapping[str, str]) -> str:
        work = tmp_path / f"clone-{next(counter)}"
        _git(tmp_path, "clone", "-q", forgesim.clone_url(full_name, with_token=True), str(work))
        exists = _git(work, "ls-remote", "--heads", "origin", branch)
        _git(work, "checkout", "-q", "-B", branch, f"origin/{branch}" if exists else "HEAD")
        for rel, text in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
        _git(work, "add", "-A")
        _git(work, "commit", "-q", "-m", f"change {', '.join(files)}")
        _git(work, "push", "-q", "--force", "origin", f"HEAD:refs/heads/{branch}")
        return _git(work, "rev-parse", "HEAD")

    return push


REPO = "acme/config"


@dataclass
class ForgeCase:
    """One forge under test: its provider and the raw-path regexes of its key routes."""

    name: str
    provider: ScmProvider
    list_prs: str
    merge: str

    def merge_route(self, number: int) -> str:
        return self.merge.format(number=number)


ROUTES = {
    "github": (r"^GET /api/v3/repos/acme/config/pulls$", r"^PUT .*/pulls/{number}/merge$"),
    "gitlab": (
        r"^GET /api/v4/projects/[^/]+/merge_requests$",
        r"^PUT .*/merge_requests/{number}/merge$",
    ),
}


@pytest.fixture(params=["github", "gitlab"])
def forge(request: pytest.FixtureRequest, forgesim: ForgeSim) -> ForgeCase:
    """Each contract test runs once per forge, against a fresh repo ``acme/config``."""
    forgesim.create_repo(REPO, {"apps/api.yaml": "image: api:1.0\n"})
    forgesim.add_user("alice")
    name = str(request.param)
    provider = scm.connect(name, f"{forgesim.url}/{REPO}", token=forgesim.token)
    return ForgeCase(name, provider, *ROUTES[name])
