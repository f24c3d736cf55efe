"""GitLab through python-gitlab, used unmodified. The only ``gitlab`` import.

python-gitlab retries 429 by sleeping (``obey_rate_limit``, up to 10 times) and its errors do
not carry response headers. So a response hook on its ``requests`` session raises
``_RateLimited`` (with the headers) for 429 and for 403s that carry rate-limit headers, before
python-gitlab's retry loop sees them; ``retry_transient_errors`` stays off. Failures become
Bumper errors (``bumper.scm.failures``) and the RQ retry waits instead of the worker.
Auto-merge is GitLab's merge-when-pipeline-succeeds, sent with the ``sha`` guard.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import gitlab
import requests
from gitlab.v4.objects import Project, ProjectMergeRequest

from bumper.errors import PermanentError, TransientError
from bumper.scm import failures
from bumper.scm.base import (
    Checks,
    CheckState,
    GitRemote,
    MergeMethod,
    MergeOutcome,
    PullRequest,
)

PUBLIC_URL = "https://gitlab.com"
DEVELOPER = 30  # GitLab access level: Developer may push
_NOT_MERGEABLE = (405, 406, 422)  # GitLab's "cannot merge now" answers on PUT .../merge
_STATE = {"opened": "open", "closed": "closed", "merged": "merged", "locked": "closed"}
_FAILED = {"failed", "canceled"}
_PASSED = {"success", "skipped"}
_WORDS = {
    CheckState.SUCCESS: "success",
    CheckState.PENDING: "running",
    CheckState.FAILURE: "failed",
    CheckState.NONE: "pending",
}


class _RateLimited(Exception):
    """Raised from the session hook so python-gitlab never sleeps on a rate limit."""

    def __init__(self, status: int, headers: Mapping[str, str], message: str) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers)
        self.message = message


def _observe(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    host = urlsplit(response.url).netloc
    failures.replied("gitlab", host, response.status_code, response.headers)


def _rate_limit_hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    status = response.status_code
    if status == 429 or (
        status == 403 and failures.is_rate_limited(status, response.headers, response.text)
    ):
        raise _RateLimited(status, response.headers, _error_text(response))


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    message = body.get("message", body.get("error", "")) if isinstance(body, dict) else body
    return str(message)[:200]


class GitLabProvider:
    """One GitLab project ``group/name`` (subgroups allowed)."""

    forge = "gitlab"
    supports_pull_requests = True

    def __init__(
        self,
        full_name: str,
        *,
        token: str,
        url: str = PUBLIC_URL,
        clone_url: str | None = None,
        timeout: float = 15,
    ) -> None:
        self.full_name = full_name
        base = url.rstrip("/")
        self._remote = GitRemote(clone_url or f"{base}/{full_name}.git", "oauth2", token)
        self._gl = gitlab.Gitlab(
            base, private_token=token, timeout=timeout, retry_transient_errors=False
        )
        self._gl.session.hooks["response"].append(_observe)
        self._gl.session.hooks["response"].append(_rate_limit_hook)
        self._project: Project = self._gl.projects.get(full_name, lazy=True)
        self._login: str | None = None

    @property
    def remote(self) -> GitRemote:
        return self._remote

    @contextmanager
    def _call(self, action: str, not_mergeable: tuple[int, ...] = ()) -> Iterator[None]:
        label = f"gitlab {self.full_name}: {action}"
        try:
            yield
        except _RateLimited as exc:
            raise failures.from_http(exc.status, exc.headers, exc.message, action=label) from exc
        except gitlab.exceptions.GitlabError as exc:
            raise failures.from_http(
                exc.response_code,
                {},
                str(exc.error_message)[:200],
                action=label,
                not_mergeable_statuses=not_mergeable,
            ) from exc
        except requests.RequestException as exc:
            failures.replied("gitlab", urlsplit(self._gl.url).netloc, None, {})
            raise TransientError(
                f"{label}: {type(exc).__name__}",
                delay=failures.SERVER_ERROR_DELAY,
                reason="forge_unavailable",
            ) from exc

    def default_branch(self) -> str:
        with self._call("get project"):
            return str(self._gl.projects.get(self.full_name).default_branch)

    def _mr(self, number: int) -> ProjectMergeRequest:
        return self._project.mergerequests.get(number)

    def find_open_pr(self, head_branch: str, base_branch: str | None = None) -> PullRequest | None:
        filters: dict[str, Any] = {"state": "opened", "source_branch": head_branch}
        if base_branch:
            filters["target_branch"] = base_branch
        with self._call(f"find MR for {head_branch}"):
            found = self._project.mergerequests.list(get_all=True, **filters)
        for mr in found:
            if mr.source_branch == head_branch:
                return _pr(mr.attributes)
        return None

    def get_pr(self, number: int) -> PullRequest:
        with self._call(f"get MR !{number}"):
            return _pr(self._mr(number).attributes)

    def open_pr(self, head_branch: str, base_branch: str, title: str, body: str) -> PullRequest:
        # No look first: the caller has just found none, and a second open is refused by the
        # forge and answered below with the one that exists (never two).
        fields = {
            "source_branch": head_branch,
            "target_branch": base_branch,
            "title": title,
            "description": body,
        }
        try:
            with self._call(f"open MR {head_branch} → {base_branch}"):
                return _pr(self._project.mergerequests.create(fields).attributes)
        except TransientError as err:
            # 409: another worker opened it in between; use theirs, never a second MR
            raced = (
                self.find_open_pr(head_branch, base_branch) if err.reason == "conflict" else None
            )
            if raced:
                return raced
            raise

    def _update(self, number: int, fields: dict[str, Any], action: str) -> PullRequest:
        with self._call(f"{action} MR !{number}"):
            data = self._project.mergerequests.update(number, fields)
        return _pr(data)

    def update_pr(
        self, number: int, *, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        fields: dict[str, Any] = {}
        if title is not None:
            fields["title"] = title
        if body is not None:
            fields["description"] = body
        if not fields:
            return self.get_pr(number)
        return self._update(number, fields, "update")

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        if labels:
            self._update(number, {"add_labels": ",".join(labels)}, "label")

    def request_reviewers(self, number: int, reviewers: Sequence[str]) -> None:
        if not reviewers:
            return
        ids = [self._user_id(name) for name in reviewers]
        with self._call(f"get MR !{number}"):
            current = [r["id"] for r in self._mr(number).attributes.get("reviewers") or []]
        merged = current + [i for i in ids if i not in current]
        if merged != current:
            self._update(number, {"reviewer_ids": merged}, "request reviewers on")

    def _user_id(self, username: str) -> int:
        with self._call(f"look up user {username}"):
            users = self._gl.users.list(username=username, get_all=False)
        if not users:
            raise PermanentError(
                f"gitlab {self.full_name}: reviewer {username!r} does not exist",
                reason="invalid",
            )
        return int(users[0].id)

    def comment(self, number: int, body: str) -> None:
        with self._call(f"comment on MR !{number}"):
            self._project.mergerequests.get(number, lazy=True).notes.create({"body": body})

    def may_write(self, login: str, user_id: int | None = None) -> bool:
        # GET /projects/:id/members/all/:user_id: inherited (group) members count too.
        try:
            ident = user_id if user_id is not None else self._user_id(login)
            with self._call(f"membership of {login}"):
                member = self._project.members_all.get(ident)
        except PermanentError as error:
            if error.reason in ("not_found", "invalid"):
                return False
            raise
        level = member.attributes.get("access_level")
        return type(level) is int and level >= DEVELOPER

    def login(self) -> str:
        if self._login is None:  # the token's account does not change: ask once
            with self._call("get the authenticated user"):
                self._gl.auth()
                user = self._gl.user
            self._login = str(user.username) if user is not None else ""
        return self._login

    def close_pr(self, number: int, comment: str | None = None) -> None:
        if self.get_pr(number).state != "open":
            return
        if comment:
            self.comment(number, comment)
        self._update(number, {"state_event": "close"}, "close")

    def merge(
        self,
        number: int,
        *,
        sha: str,
        method: MergeMethod = MergeMethod.MERGE,
        when_checks_pass: bool = True,
    ) -> MergeOutcome:
        action = f"merge MR !{number} at {sha[:12]}"
        label = f"gitlab {self.full_name}: {action}"
        with self._call(action):
            mr = self._mr(number)
        pr = _pr(mr.attributes)
        if pr.state == "merged":
            return MergeOutcome.MERGED
        if pr.state != "open":
            raise PermanentError(f"{label}: MR is closed", reason="pr_closed")
        if pr.head_sha != sha:
            raise TransientError(
                f"{label}: head moved to {pr.head_sha[:12]}",
                delay=failures.CONFLICT_DELAY,
                reason="conflict",
            )
        if pr.mergeable is False:
            raise TransientError(
                f"{label}: not mergeable", delay=failures.CONFLICT_DELAY, reason="not_mergeable"
            )
        checks = self.checks(sha)
        if checks.state == CheckState.FAILURE:
            raise PermanentError(f"{label}: pipeline failed", reason="checks_failed")
        options: dict[str, Any] = {"sha": sha}
        if method == MergeMethod.SQUASH:
            options["squash"] = True
        if checks.state == CheckState.PENDING:
            if not when_checks_pass:
                raise TransientError(
                    f"{label}: pipeline running",
                    delay=failures.CONFLICT_DELAY,
                    reason="checks_pending",
                )
            if pr.auto_merge:
                return MergeOutcome.SCHEDULED
            with self._call(action, not_mergeable=_NOT_MERGEABLE):
                mr.merge(merge_when_pipeline_succeeds=True, **options)
            merged = mr.attributes.get("state") == "merged"
            return MergeOutcome.MERGED if merged else MergeOutcome.SCHEDULED
        with self._call(action, not_mergeable=_NOT_MERGEABLE):
            mr.merge(**options)
        return MergeOutcome.MERGED

    def checks(self, sha: str) -> Checks:
        with self._call(f"checks of {sha[:12]}"):
            pipelines = self._project.pipelines.list(sha=sha, get_all=False, per_page=1)
            statuses = self._project.commits.get(sha, lazy=True).statuses.list(get_all=True)
        details = tuple((str(s.name), str(s.status)) for s in statuses)
        if pipelines:
            return Checks(_state(str(pipelines[0].status)), sha, details)
        states = {status for _, status in details}
        if not states:
            return Checks(CheckState.NONE, sha)
        if states & _FAILED:
            return Checks(CheckState.FAILURE, sha, details)
        return Checks(CheckState.SUCCESS if states <= _PASSED else CheckState.PENDING, sha, details)

    def set_status(
        self,
        sha: str,
        state: CheckState,
        *,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> None:
        fields: dict[str, Any] = {"state": _WORDS[state], "name": context}
        if description:
            fields["description"] = description[:255]
        if target_url:
            fields["target_url"] = target_url
        with self._call(f"set status {context} on {sha[:12]}"):
            self._project.commits.get(sha, lazy=True).statuses.create(fields)


def _state(pipeline_status: str) -> CheckState:
    if pipeline_status in _PASSED:
        return CheckState.SUCCESS
    if pipeline_status in _FAILED:
        return CheckState.FAILURE
    return CheckState.PENDING


def _pr(data: Mapping[str, Any]) -> PullRequest:
    merge_status = data.get("merge_status")
    if data.get("has_conflicts") or merge_status == "cannot_be_merged":
        mergeable: bool | None = False
    elif merge_status == "can_be_merged":
        mergeable = True
    else:
        mergeable = None
    return PullRequest(
        number=int(data["iid"]),
        url=str(data.get("web_url", "")),
        head_branch=str(data["source_branch"]),
        base_branch=str(data["target_branch"]),
        head_sha=str(data.get("sha") or ""),
        title=str(data.get("title", "")),
        body=str(data.get("description") or ""),
        state=_STATE.get(str(data.get("state")), str(data.get("state"))),
        labels=tuple(str(label) for label in data.get("labels") or ()),
        reviewers=tuple(str(r["username"]) for r in data.get("reviewers") or ()),
        auto_merge=bool(data.get("merge_when_pipeline_succeeds")),
        mergeable=mergeable,
    )
