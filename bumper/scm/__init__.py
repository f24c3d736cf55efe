"""Forge adapters: the only place PyGithub and python-gitlab are imported.

``connect(forge, url, token=...)`` builds the ``ScmProvider`` (see ``base``) for one config
repo. ``url`` is the repo's web/clone URL (``https://github.com/acme/config``); the API URL is
derived from it unless ``api_url`` is given: ``https://api.github.com`` for github.com, else
``<scheme>://<host>/api/v3`` (GitHub Enterprise); GitLab's is ``<scheme>://<host>``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bumper.errors import ConfigError
from bumper.scm.base import ScmProvider

FORGES = ("github", "gitlab", "git")


def repo_path(url: str) -> str:
    """``owner/name`` (or ``group/sub/name``) from a forge URL, without ``.git``."""
    path = urlsplit(url).path.strip("/").removesuffix(".git")
    if path.count("/") < 1:
        raise ConfigError(f"repo url {url!r} has no owner/name path")
    return path


def _base(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def connect(
    forge: str,
    url: str,
    *,
    token: str | None = None,
    api_url: str | None = None,
    branch: str = "main",
) -> ScmProvider:
    """The provider for ``url`` on ``forge`` (github | gitlab | git)."""
    if forge == "git":
        from bumper.scm.gitremote import GitRemoteProvider

        return GitRemoteProvider(url, branch=branch, token=token)
    if not token:
        raise ConfigError(f"forge {forge} needs a token for {url}")
    clone_url = f"{_base(url)}/{repo_path(url)}.git"
    if forge == "github":
        from bumper.scm.github import PUBLIC_API, GitHubProvider

        if api_url is None:
            api_url = (
                PUBLIC_API if urlsplit(url).hostname == "github.com" else _base(url) + "/api/v3"
            )
        return GitHubProvider(repo_path(url), token=token, api_url=api_url, clone_url=clone_url)
    if forge == "gitlab":
        from bumper.scm.gitlab import GitLabProvider

        return GitLabProvider(
            repo_path(url), token=token, url=api_url or _base(url), clone_url=clone_url
        )
    raise ConfigError(f"unknown forge {forge!r}; expected one of {', '.join(FORGES)}")
