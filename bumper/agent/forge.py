"""Commit statuses and revert pull/merge requests, over the forges' REST APIs with requests.

The agent must stay small, so it does not use PyGithub, python-gitlab or ``bumper.scm``: the
four calls it needs are written out here. Everything is best effort: a forge outage is logged
(status code only, never the token) and never fails or delays a sync.

- GitHub: ``POST /repos/{repo}/statuses/{sha}``; a revert is a commit whose tree is the last
  healthy commit's tree on top of the failed commit (Git Data API), a branch
  ``bumper/revert-<sha12>`` and a pull request into the watched branch.
- GitLab: ``POST /projects/{id}/statuses/{sha}``; a revert is a branch from the failed commit,
  ``POST /projects/{id}/repository/commits/{sha}/revert`` onto it and a merge request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import requests

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

    def open_revert(self, bad: str, good: str, reason: str) -> str | None:
        """Open (or find) the revert request; returns its web URL when known."""
        branch = f"bumper/revert-{bad[:12]}"
        title = f"Revert {bad[:12]}: it failed health checks"
        body = (
            f"bumper-agent rolled the cluster back to {good} because {bad} did not become "
            f"healthy:\n\n{reason[:2000]}\n"
        )
        try:
            if self.kind == "github":
                return self._github_revert(bad, good, branch, title, body)
            return self._gitlab_revert(bad, branch, title, body)
        except requests.RequestException as error:
            log.warning("revert request not opened: %s", type(error).__name__)
            return None

    def _github_revert(self, bad: str, good: str, branch: str, title: str, body: str) -> str | None:
        repo = f"/repos/{self.repo}"
        good_commit = self._call("GET", f"{repo}/git/commits/{good}")
        if good_commit.status_code != 200:
            return self._refused("read commit", good_commit)
        commit = self._call(
            "POST",
            f"{repo}/git/commits",
            json={"message": title, "tree": good_commit.json()["tree"]["sha"], "parents": [bad]},
        )
        if commit.status_code != 201:
            return self._refused("create commit", commit)
        ref = self._call(
            "POST",
            f"{repo}/git/refs",
            json={"ref": f"refs/heads/{branch}", "sha": commit.json()["sha"]},
        )
        if ref.status_code not in (201, 422):  # 422: the branch exists from an earlier attempt
            return self._refused("create branch", ref)
        pull = self._call(
            "POST",
            f"{repo}/pulls",
            json={"title": title, "head": branch, "base": self.branch, "body": body},
        )
        if pull.status_code == 201:
            return str(pull.json().get("html_url", ""))
        return self._refused("open pull request", pull)

    def _gitlab_revert(self, bad: str, branch: str, title: str, body: str) -> str | None:
        project = self._project
        made = self._call(
            "POST", f"{project}/repository/branches", json={"branch": branch, "ref": bad}
        )
        if made.status_code not in (201, 400):  # 400: the branch exists already
            return self._refused("create branch", made)
        revert = self._call(
            "POST", f"{project}/repository/commits/{bad}/revert", json={"branch": branch}
        )
        if revert.status_code not in (201, 400):
            return self._refused("revert commit", revert)
        request = self._call(
            "POST",
            f"{project}/merge_requests",
            json={
                "source_branch": branch,
                "target_branch": self.branch,
                "title": title,
                "description": body,
            },
        )
        if request.status_code == 201:
            return str(request.json().get("web_url", ""))
        return self._refused("open merge request", request)

    @staticmethod
    def _refused(step: str, response: requests.Response) -> None:
        log.warning("revert request: %s refused by the forge: HTTP %s", step, response.status_code)
        return None
