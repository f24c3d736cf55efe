"""Shared by ``scan`` and ``set-image``: turn command-line PATHs into (root, selection, label)."""

from __future__ import annotations

import os
from pathlib import Path

from bumper.errors import BumperError


def split(arg: str) -> tuple[Path, str, str]:
    """A directory is its own root; a file's root is its directory. ``label`` prefixes output."""
    path = Path(arg)
    if path.is_dir():
        return path, ".", arg
    if path.exists():
        return path.parent, path.name, os.path.dirname(arg)
    raise BumperError(f"no such file or directory: {arg}")


def label(prefix: str, rel: str) -> str:
    return os.path.join(prefix, rel) if prefix not in ("", ".") else rel
