"""Where the worker clones and pushes a config repo, and with which credentials.

A plain-git local path is relative to bumper.yaml's directory (``config_dir``), like every
``file:`` secret. Forge repos get their URL and token from ``pullrequests.Forges.remote``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bumper import gitrepo
from bumper.core import config
from bumper.errors import ConfigError


def clone_url(repo: config.Repo, config_dir: Path) -> str:
    """The repo URL; a plain-git local path is relative to bumper.yaml's directory."""
    url = repo.url
    scp_like = re.match(r"^[\w.-]+@[\w.-]+:", url)
    if repo.forge == "git" and "://" not in url and not scp_like and not Path(url).is_absolute():
        return str((config_dir / url).resolve())
    return url


def credentials(repo: config.Repo, config_dir: Path) -> gitrepo.Credentials | None:
    if repo.credentials is None:
        return None
    user = "oauth2" if repo.forge == "gitlab" else "x-access-token"
    return gitrepo.Credentials(user, read_secret(repo.credentials, config_dir))


def token(repo: config.Repo, config_dir: Path) -> str | None:
    """The forge token of ``repo``, or None when it has no credentials."""
    return read_secret(repo.credentials, config_dir) if repo.credentials else None


def read_secret(ref: config.SecretRef, base: Path) -> str:
    """The secret's value; ``ConfigError`` naming where it was looked for (never the value)."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise ConfigError(f"environment variable {ref.env} is not set")
        return value
    assert ref.file is not None
    path = Path(ref.file)
    try:
        return (
            (path if path.is_absolute() else base / path).read_text(encoding="utf-8").rstrip("\n")
        )
    except OSError as error:
        raise ConfigError(f"cannot read secret file {ref.file}: {error.strerror}") from None
