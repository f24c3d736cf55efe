"""Where the worker clones and pushes a config repo, and with which credentials.

A plain-git local path is relative to bumper.yaml's directory (``config_dir``), like every
``file:`` secret. Forge repos get their URL and token from ``pullrequests.Forges.remote``.
"""

from __future__ import annotations

import re
from pathlib import Path

from bumper import gitrepo, secrets
from bumper.core import config


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
    return gitrepo.Credentials(user, secrets.resolve(repo.credentials, base=config_dir))


def token(repo: config.Repo, config_dir: Path) -> str | None:
    """The forge token of ``repo``, or None when it has no credentials."""
    return secrets.resolve(repo.credentials, base=config_dir) if repo.credentials else None
