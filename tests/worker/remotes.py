"""A throw-away config repo for the worker tests: a bare git repo with one commit."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path


def seeded_remote(
    tmp_path: Path, files: Mapping[str, bytes], links: Mapping[str, str] | None = None
) -> str:
    """A bare repo whose one commit holds ``files`` and the symbolic links ``links``
    (path -> target, as git stores them)."""
    seed = tmp_path / "seed"
    for name, data in files.items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_bytes(data)
    for name, target in (links or {}).items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, seed / name)
    ident = ["-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*ident, "commit", "-qm", "seed"]):
        subprocess.run(["git", *args], cwd=seed, check=True, capture_output=True)
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    return str(bare)
