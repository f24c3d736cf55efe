"""Commit statuses and revert pull/merge requests, over the forges' REST APIs with requests.

The agent must stay small, so it does not use PyGithub, python-gitlab or ``bumper.scm``: the
four calls it needs are written out here. Everything is best effort: a forge outage is logged
(status code only, never the token) and never fails or delays a sync.

- GitHub: ``POST /repos/{repo}/statuses/{sha}`` and ``POST /repos/{repo}/pulls``;
- GitLab: ``POST /projects/{id}/statuses/{sha}`` and ``POST /projects/{id}/merge_requests``.

The revert branch itself (``bumper/revert-<sha12>``: a commit on top of the failed one whose
tree is the last healthy commit's) is pushed over git with the forge token by ``source``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import requests

from bumper.core import changes

log = logging.getLogger("bumper.agent")
State = Literal["pending", "success", "failure"]
CONTEXT = "bumper-agent"


@dataclass
class Forge:
    kind: Literal["github", "gitlab"]
    api_url: str
    repo: str  # "owner/name" (GitHub) or project path or numeric id (GitLab)
    token: str = field(repr=False)
    branch: str = "main"
    timeout: float = 15.0

    def __post_init__(self) -> None:
        self.session = requests.Session()
        if self.kind == "github":
            self.session.headers["Authorization"] = f"Bearer {self.token}"
            self.session.headers["Accept"] = "application/vnd.github+json"
        else:
            self.session.headers["PRIVATE-TOKEN"] = self.token
        self.base = self.api_url.rstrip("/")

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=self.timeout, **kwargs)

    @property
    def _project(self) -> str:
        return "/projects/" + quote(self.repo, safe="")

    def commit_status(self, sha: str, state: State, description: str) -> bool:
        try:
            if self.kind == "github":
                response = self._call(
                    "POST",
                    f"/repos/{self.repo}/statuses/{sha}",
                    json={"state": state, "context": CONTEXT, "description": description[:140]},
                )
            else:
                gitlab_state = {"pending": "running", "success": "success", "failure": "failed"}
                response = self._call(
                    "POST",
                    f"{self._project}/statuses/{sha}",
                    json={
                        "state": gitlab_state[state],
                        "name": CONTEXT,
                        "description": description[:140],
                    },
                )
        except requests.RequestException as error:
            log.warning("commit status not sent: %s", type(error).__name__)
            return False
        if response.status_code >= 300:
            log.warning("commit status refused by the forge: HTTP %s", response.status_code)
            return False
        return True

    def open_revert(self, bad: str, good: str, branch: str, reason: str) -> str | None:
        """Open the revert request for ``branch`` (already pushed); returns its web URL."""
        title = f"Revert {bad[:12]}: it failed health checks"
        body = (
            f"bumper-agent rolled the cluster back to {good} because {bad} did not become "
            f"healthy:\n\n{changes.inline(reason, 2000)}\n"
        )
        try:
            if self.kind == "github":
                response = self._call(
                    "POST",
                    f"/repos/{self.repo}/pulls",
                    json={"title": title, "head": branch, "base": self.branch, "body": body},
                )
                key = "html_url"
            else:
                response = self._call(
                    "POST",
                    f"{self._project}/merge_requests",
                    json={
                        "source_branch": branch,
                        "target_branch": self.branch,
                        "title": title,
                        "description": body,
                    },
                )
                key = "web_url"
        except requests.RequestException as error:
            log.warning("revert request not opened: %s", type(error).__name__)
            return None
        if response.status_code == 201:
            return str(response.json().get(key, ""))
        return self._refused("open revert request", response)

    @staticmethod
    def _refused(step: str, response: requests.Response) -> None:
        log.warning("revert request: %s refused by the forge: HTTP %s", step, response.status_code)
        return None
