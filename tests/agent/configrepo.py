"""A real git config repo in a tmp dir, for agent tests: write files, commit, optionally sign."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


class ConfigRepo:
    def __init__(self, path: Path, branch: str = "main") -> None:
        self.path = path
        self.branch = branch
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "-b", branch)

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **GIT_ENV},
            check=True,
        )
        return done.stdout.strip()

    def write(self, rel: str, content: str | list[dict[str, Any]]) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not isinstance(content, str):
            content = yaml.safe_dump_all(content, sort_keys=False)
        target.write_text(content)

    def remove(self, rel: str) -> None:
        (self.path / rel).unlink()

    def push(self, url: str) -> None:
        """Force-push the branch to a remote (e.g. the forge simulator, URL with its token)."""
        self.git("push", "--quiet", "--force", url, f"{self.branch}:{self.branch}")

    def commit(self, message: str = "change", *, sign_key: Path | None = None) -> str:
        self.git("add", "-A")
        args = ["commit", "--quiet", "--allow-empty", "-m", message]
        if sign_key is not None:
            args = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={sign_key}", *args, "-S"]
        self.git(*args)
        return self.git("rev-parse", "HEAD")
