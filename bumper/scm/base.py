"""The forge interface the worker uses, whatever the forge: ``ScmProvider`` and its value types.

Implementations: ``github.GitHubProvider`` (PyGithub), ``gitlab.GitLabProvider`` (python-gitlab),
``gitremote.GitRemoteProvider`` (plain git, no pull requests). A "PR" here is a GitHub pull
request or a GitLab merge request; ``number`` is the PR number or the MR ``iid``.

Error contract, the same for every implementation (errors from ``bumper.errors``, raised
``from`` the library error):

- forge 5xx, connection failures                → ``TransientError`` (default delay)
- 403/429 rate limits                           → ``TransientError(delay=…)`` honouring
  ``Retry-After``, else the rate-limit reset header (``X-RateLimit-Reset`` / ``RateLimit-Reset``)
- 409, "not mergeable", checks still running    → ``TransientError``: retry later; the caller
  finds the same PR again by its branch, so a retry never duplicates anything
- 401, 404, 422 and other 4xx                   → ``PermanentError`` with ``reason`` = slug

Nothing here sleeps: the libraries' own retry loops are switched off, the RQ retry waits instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class CheckState(StrEnum):
    """Combined result of the checks (statuses, check runs, pipelines) on one commit."""

    SUCCESS = "success"
    PENDING = "pending"
    FAILURE = "failure"
    NONE = "none"  # nothing reported at all: the forge runs no CI for this commit


class MergeOutcome(StrEnum):
    MERGED = "merged"  # the PR is merged now (or already was)
    SCHEDULED = "scheduled"  # the forge merges it when checks pass (auto-merge / MWPS)


class MergeMethod(StrEnum):
    MERGE = "merge"
    SQUASH = "squash"
    REBASE = "rebase"


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str  # the page a human opens
    head_branch: str
    base_branch: str
    head_sha: str
    title: str
    body: str
    state: str  # open | closed | merged
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    auto_merge: bool = False
    mergeable: bool | None = None  # None while the forge is still computing it


@dataclass(frozen=True)
class Checks:
    state: CheckState
    sha: str
    details: tuple[tuple[str, str], ...] = field(default=())  # (context/name, state) pairs


@dataclass(frozen=True)
class GitRemote:
    """Where to clone and push, and the HTTP credentials; ``repr`` never shows the token."""

    url: str
    username: str | None = None
    token: str | None = field(default=None, repr=False)


@runtime_checkable
class ScmProvider(Protocol):
    """One config repository on one forge, as the bump worker needs it."""

    forge: str  # github | gitlab | git
    supports_pull_requests: bool

    @property
    def remote(self) -> GitRemote: ...

    def default_branch(self) -> str: ...

    def find_open_pr(self, head_branch: str, base_branch: str | None = None) -> PullRequest | None:
        """The open PR from ``head_branch`` (into ``base_branch`` if given), or None."""
        ...

    def get_pr(self, number: int) -> PullRequest: ...

    def open_pr(self, head_branch: str, base_branch: str, title: str, body: str) -> PullRequest:
        """Open a PR. If one is already open for the branch pair, return that one instead
        (found after the forge refused a second one: callers look first, so this costs the
        usual path no extra request)."""
        ...

    def update_pr(
        self, number: int, *, title: str | None = None, body: str | None = None
    ) -> PullRequest: ...

    def add_labels(self, number: int, labels: Sequence[str]) -> None: ...

    def request_reviewers(self, number: int, reviewers: Sequence[str]) -> None: ...

    def comment(self, number: int, body: str) -> None: ...

    def may_write(self, login: str, user_id: int | None = None) -> bool:
        """Whether ``login`` (GitLab: the user ``user_id``, looked up by ``login`` if None)
        may push to this repository: GitHub's collaborator permission ``admin``, ``maintain``
        or ``write``; GitLab's project membership, inherited ones included, at Developer (30)
        or above. A user the forge does not know, or who is no member, may not."""
        ...

    def login(self) -> str:
        """The forge account the token belongs to (Bumper itself), to ignore its comments."""
        ...

    def close_pr(self, number: int, comment: str | None = None) -> None:
        """Close without merging, after posting ``comment`` when given. Idempotent."""
        ...

    def merge(
        self,
        number: int,
        *,
        sha: str,
        method: MergeMethod = MergeMethod.MERGE,
        when_checks_pass: bool = True,
    ) -> MergeOutcome:
        """Merge iff the head is still ``sha``; idempotent when already merged.

        ``when_checks_pass``: checks still running → arm the forge's auto-merge
        (``SCHEDULED``); otherwise pending checks raise ``TransientError``.
        Failed checks raise ``PermanentError(reason="checks_failed")``.
        """
        ...

    def checks(self, sha: str) -> Checks: ...

    def set_status(
        self,
        sha: str,
        state: CheckState,
        *,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> None: ...
