"""GitHub (and GitHub Enterprise) through PyGithub, used unmodified. The only ``github`` import.

PyGithub's own waiting is switched off: ``retry=None`` (no urllib3 retries, no rate-limit
sleeping) and no request throttling unless ``throttle=True``; failures become Bumper errors
(``bumper.scm.failures``) and the RQ retry waits instead. Auto-merge uses PyGithub's GraphQL
``enable_automerge`` with ``expectedHeadOid`` as the sha guard.

Every reply goes to ``failures.replied`` (metrics): PyGithub has no response hook, so this
provider's requester gets a connection class whose ``requests`` session has one
(``_observe_replies``; PyGithub's connection classes are its documented injection point, set
here on one requester rather than globally, which would also switch off keep-alive).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import github
import requests
from github import Auth
from github.GithubObject import NotSet

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

PUBLIC_API = "https://api.github.com"
WRITE_ROLES = frozenset({"admin", "maintain", "write"})
_STATUS_WORDS = {
    CheckState.SUCCESS: "success",
    CheckState.PENDING: "pending",
    CheckState.FAILURE: "failure",
    CheckState.NONE: "pending",
}


def _observe_replies(requester: Any, host: str) -> None:
    """Make ``requester``'s HTTP session report every reply to ``failures.replied``."""
    attribute = "_Requester__connectionClass"
    base = getattr(requester, attribute, None)
    if base is None:  # a PyGithub without this seam: no forge metrics, nothing else lost
        return

    def observe(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        failures.replied("github", host, response.status_code, response.headers)

    class Observed(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.session.hooks["response"].append(observe)

    setattr(requester, attribute, Observed)


def default_clone_url(api_url: str, full_name: str) -> str:
    """github.com for the public API, else the GHE host (``https://ghe/api/v3`` → ``https://ghe``)."""
    if api_url.rstrip("/") == PUBLIC_API:
        return f"https://github.com/{full_name}.git"
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}/{full_name}.git"


class GitHubProvider:
    """One GitHub repository ``owner/name``."""

    forge = "github"
    supports_pull_requests = True

    def __init__(
        self,
        full_name: str,
        *,
        token: str,
        api_url: str = PUBLIC_API,
        clone_url: str | None = None,
        timeout: int = 15,
        throttle: bool = False,
    ) -> None:
        self.full_name = full_name
        self.owner = full_name.split("/", 1)[0]
        self._host = urlsplit(api_url).netloc
        self._remote = GitRemote(
            clone_url or default_clone_url(api_url, full_name), "x-access-token", token
        )
        self._gh = github.Github(
            base_url=api_url.rstrip("/"),
            auth=Auth.Token(token),
            timeout=timeout,
            retry=None,
            per_page=100,
            lazy=True,
            seconds_between_requests=0.25 if throttle else None,
            seconds_between_writes=1.0 if throttle else None,
        )
        _observe_replies(self._gh.requester, urlsplit(api_url).netloc)
        self._repo = self._gh.get_repo(full_name)
        self._login: str | None = None

    @property
    def remote(self) -> GitRemote:
        return self._remote

    @contextmanager
    def _call(self, action: str, not_mergeable: tuple[int, ...] = ()) -> Iterator[None]:
        label = f"github {self.full_name}: {action}"
        try:
            yield
        except github.GithubException as exc:
            message = exc.message or _message(exc.data)
            headers = dict(exc.headers or {})
            raise failures.from_http(
                exc.status, headers, message, action=label, not_mergeable_statuses=not_mergeable
            ) from exc
        except requests.RequestException as exc:
            failures.replied("github", self._host, None, {})
            raise TransientError(
                f"{label}: {type(exc).__name__}",
                delay=failures.SERVER_ERROR_DELAY,
                reason="forge_unavailable",
            ) from exc

    def default_branch(self) -> str:
        with self._call("get repository"):
            return str(self._repo.default_branch)

    def find_open_pr(self, head_branch: str, base_branch: str | None = None) -> PullRequest | None:
        with self._call(f"find PR for {head_branch}"):
            kwargs: dict[str, Any] = {"state": "open", "head": f"{self.owner}:{head_branch}"}
            if base_branch:
                kwargs["base"] = base_branch
            for pull in self._repo.get_pulls(**kwargs):
                if pull.head.ref == head_branch:
                    return _listed_pr(pull)
        return None

    def get_pr(self, number: int) -> PullRequest:
        with self._call(f"get PR #{number}"):
            return _full_pr(self._repo.get_pull(number))

    def open_pr(self, head_branch: str, base_branch: str, title: str, body: str) -> PullRequest:
        # No look first: the caller has just found none, and a second open is refused by the
        # forge and answered below with the one that exists (never two).
        try:
            with self._call(f"open PR {head_branch} → {base_branch}"):
                pull = self._repo.create_pull(
                    base=base_branch, head=head_branch, title=title, body=body
                )
                return _full_pr(pull)
        except PermanentError:
            # lost a race with another worker: the PR exists now, so use it (never a second one)
            raced = self.find_open_pr(head_branch, base_branch)
            if raced:
                return raced
            raise

    def update_pr(
        self, number: int, *, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        with self._call(f"update PR #{number}"):
            pull = self._repo.get_pull(number)
            if title is not None or body is not None:
                pull.edit(
                    title=NotSet if title is None else title,
                    body=NotSet if body is None else body,
                )
            return _full_pr(pull)

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        if labels:
            with self._call(f"label PR #{number}"):
                self._repo.get_issue(number).add_to_labels(*labels)

    def request_reviewers(self, number: int, reviewers: Sequence[str]) -> None:
        if reviewers:
            with self._call(f"request reviewers on PR #{number}"):
                self._repo.get_pull(number).create_review_request(reviewers=list(reviewers))

    def comment(self, number: int, body: str) -> None:
        with self._call(f"comment on PR #{number}"):
            self._repo.get_issue(number).create_comment(body)

    def may_write(self, login: str, user_id: int | None = None) -> bool:
        # GET /repos/{owner}/{repo}/collaborators/{username}/permission: ``permission`` is the
        # legacy base role (maintain reads as write), ``role_name`` the role itself.
        try:
            with self._call(f"permission of {login}"):
                _, data = self._gh.requester.requestJsonAndCheck(
                    "GET", f"{self._repo.url}/collaborators/{quote(login, safe='')}/permission"
                )
        except PermanentError as error:
            if error.reason == "not_found":
                return False
            raise
        roles = {str(data.get("permission") or ""), str(data.get("role_name") or "")}
        return bool(roles & WRITE_ROLES)

    def login(self) -> str:
        if self._login is None:  # the token's account does not change: ask once
            with self._call("get the authenticated user"):
                self._login = str(self._gh.get_user().login)
        return self._login

    def close_pr(self, number: int, comment: str | None = None) -> None:
        with self._call(f"close PR #{number}"):
            pull = self._repo.get_pull(number)
            if pull.state != "open":
                return
            if comment:
                self._repo.get_issue(number).create_comment(comment)
            pull.edit(state="closed")

    def merge(
        self,
        number: int,
        *,
        sha: str,
        method: MergeMethod = MergeMethod.MERGE,
        when_checks_pass: bool = True,
    ) -> MergeOutcome:
        action = f"merge PR #{number} at {sha[:12]}"
        with self._call(action, not_mergeable=(405,)):
            pull = self._repo.get_pull(number)
            if pull.merged:
                return MergeOutcome.MERGED
            if pull.state != "open":
                raise PermanentError(
                    f"github {self.full_name}: {action}: PR is closed", reason="pr_closed"
                )
            if pull.head.sha != sha:
                raise TransientError(
                    f"github {self.full_name}: {action}: head moved to {pull.head.sha[:12]}",
                    delay=failures.CONFLICT_DELAY,
                    reason="conflict",
                )
        checks = self.checks(sha)
        if checks.state == CheckState.FAILURE:
            raise PermanentError(
                f"github {self.full_name}: {action}: checks failed", reason="checks_failed"
            )
        if checks.state == CheckState.PENDING:
            if not when_checks_pass:
                raise TransientError(
                    f"github {self.full_name}: {action}: checks pending",
                    delay=failures.CONFLICT_DELAY,
                    reason="checks_pending",
                )
            if pull.auto_merge is None:
                self._enable_auto_merge(pull, sha, method, action)
            return MergeOutcome.SCHEDULED
        with self._call(action, not_mergeable=(405,)):
            if pull.mergeable is False:
                raise TransientError(
                    f"github {self.full_name}: {action}: not mergeable",
                    delay=failures.CONFLICT_DELAY,
                    reason="not_mergeable",
                )
            pull.merge(sha=sha, merge_method=method.value)
        return MergeOutcome.MERGED

    def _enable_auto_merge(self, pull: Any, sha: str, method: MergeMethod, action: str) -> None:
        """Arm GitHub auto-merge. GitHub refuses it (a GraphQL error) unless branch protection
        still blocks the PR, e.g. when only optional checks are running: then wait and retry."""
        try:
            pull.enable_automerge(merge_method=method.upper(), expected_head_oid=sha)
        except github.GithubException as exc:
            if exc.status != 400:
                with self._call(f"enable auto-merge on PR #{pull.number}"):
                    raise
            raise TransientError(
                f"github {self.full_name}: {action}: checks pending and auto-merge refused: "
                f"{_message(exc.data)[:200]}",
                delay=failures.CONFLICT_DELAY,
                reason="checks_pending",
            ) from exc
        except requests.RequestException:
            with self._call(f"enable auto-merge on PR #{pull.number}"):
                raise

    def checks(self, sha: str) -> Checks:
        with self._call(f"checks of {sha[:12]}"):
            commit = self._repo.get_commit(sha)
            combined = commit.get_combined_status()
            details = [(s.context, s.state) for s in combined.statuses]
            for run in commit.get_check_runs():
                details.append((run.name, run.conclusion or run.status))
        return Checks(_combine(details), sha, tuple(details))

    def set_status(
        self,
        sha: str,
        state: CheckState,
        *,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> None:
        kwargs: dict[str, str] = {"context": context, "description": description[:140]}
        if target_url:
            kwargs["target_url"] = target_url
        with self._call(f"set status {context} on {sha[:12]}"):
            self._repo.get_commit(sha).create_status(_STATUS_WORDS[state], **kwargs)


def _combine(details: Sequence[tuple[str, str]]) -> CheckState:
    states = {state for _, state in details}
    if not states:
        return CheckState.NONE
    if states & {
        "failure",
        "error",
        "cancelled",
        "timed_out",
        "action_required",
        "startup_failure",
    }:
        return CheckState.FAILURE
    if states - {"success", "neutral", "skipped"}:
        return CheckState.PENDING
    return CheckState.SUCCESS


def _message(data: Any) -> str:
    if isinstance(data, dict):
        if data.get("message"):
            return str(data["message"])
        errors = data.get("errors") or []  # GraphQL
        return "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
    return str(data or "")


def _listed_pr(pull: Any) -> PullRequest:
    """From a list item: only fields the "pull-request-simple" shape has (no lazy fetch)."""
    return PullRequest(
        number=pull.number,
        url=pull.html_url,
        head_branch=pull.head.ref,
        base_branch=pull.base.ref,
        head_sha=pull.head.sha,
        title=pull.title,
        body=pull.body or "",
        state="merged" if pull.merged_at else pull.state,
        labels=tuple(label.name for label in pull.labels),
        reviewers=tuple(user.login for user in pull.requested_reviewers),
        auto_merge=pull.auto_merge is not None,
    )


def _full_pr(pull: Any) -> PullRequest:
    listed = _listed_pr(pull)
    return PullRequest(**{**listed.__dict__, "mergeable": pull.mergeable})
