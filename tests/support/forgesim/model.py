"""The forge simulator's state: repositories, change requests (PRs / MRs), statuses, comments.

One model serves both API flavours: a GitHub pull request and a GitLab merge request are the
same ``ChangeRequest``, rendered differently by ``github_api`` and ``gitlab_api``. All mutation
happens under ``ForgeSim.lock``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.support.forgesim.gitstore import BareRepo


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class User:
    id: int
    login: str


# GitHub role → GitLab access level (Guest 10, Reporter 20, Developer 30, Maintainer 40,
# Owner 50), and → GitHub's legacy ``permission`` (maintain reads as write, triage as read).
ROLE_LEVELS = {"read": 10, "triage": 20, "write": 30, "maintain": 40, "admin": 50}
LEGACY_PERMISSION = {
    "read": "read",
    "triage": "read",
    "write": "write",
    "maintain": "write",
    "admin": "admin",
}


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Comment:
    id: int
    body: str
    author: str
    created_at: float = field(default_factory=time.time)
    system: bool = False


@dataclass
class SimStatus:
    """A commit status (GitHub status / GitLab external job); ``state`` uses GitHub words."""

    id: int
    sha: str
    state: str  # pending | success | failure | error
    context: str
    description: str | None
    target_url: str | None
    created_at: float = field(default_factory=time.time)
    native: str | None = None  # the GitLab word (running, failed, canceled...) when set there
    ref: str | None = None


@dataclass
class Pipeline:
    """GitLab: an external pipeline per commit, whose status aggregates that commit's statuses."""

    id: int
    sha: str
    ref: str
    created_at: float = field(default_factory=time.time)


@dataclass
class CheckRun:
    id: int
    sha: str
    name: str
    status: str  # queued | in_progress | completed
    conclusion: str | None  # success | failure | neutral | ... when completed
    created_at: float = field(default_factory=time.time)


@dataclass
class ChangeRequest:
    number: int  # GitHub number == GitLab iid
    id: int
    repo: SimRepo
    head: str
    base: str
    title: str
    body: str
    author: str
    state: str = "open"  # open | closed | merged
    labels: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    closed_at: float | None = None
    merged_at: float | None = None
    merge_commit_sha: str | None = None
    last_head_sha: str | None = None
    auto_merge: dict[str, str] | None = None  # method, title, message, expected head
    draft: bool = False

    def head_sha(self) -> str | None:
        """The live head sha while the branch exists, else the last one seen."""
        if self.state == "open":
            live = self.repo.git.sha(self.head)
            if live:
                self.last_head_sha = live
        return self.last_head_sha

    def touch(self) -> None:
        self.updated_at = time.time()


@dataclass
class Release:
    """A forge release: a tag, its title and notes (markdown)."""

    id: int
    tag: str
    sha: str
    name: str
    notes: str
    draft: bool = False
    created_at: float = field(default_factory=time.time)


@dataclass
class SimRepo:
    id: int
    owner: str
    name: str
    git: BareRepo
    default_branch: str
    require_checks: bool = False  # merge refused (405) unless combined checks succeed
    labels: dict[str, Label] = field(default_factory=dict)
    statuses: list[SimStatus] = field(default_factory=list)
    check_runs: list[CheckRun] = field(default_factory=list)
    changes: dict[int, ChangeRequest] = field(default_factory=dict)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)  # by sha
    releases: list[Release] = field(default_factory=list)  # oldest first
    next_number: int = 1
    # login → GitHub role (admin, maintain, write, triage, read); GitLab reads it as an access
    # level (ROLE_LEVELS). The token's own user (the bot) is admin of every repository.
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def latest_statuses(self, sha: str) -> list[SimStatus]:
        """Newest status per context for ``sha``, in context order."""
        latest: dict[str, SimStatus] = {}
        for status in self.statuses:
            if status.sha == sha:
                latest[status.context] = status
        return [latest[k] for k in sorted(latest)]

    def checks_for(self, sha: str) -> list[CheckRun]:
        latest: dict[str, CheckRun] = {}
        for run in self.check_runs:
            if run.sha == sha:
                latest[run.name] = run
        return [latest[k] for k in sorted(latest)]

    def combined_state(self, sha: str) -> str | None:
        """success | pending | failure over statuses and check runs; None when nothing reported."""
        states = [s.state for s in self.latest_statuses(sha)]
        for run in self.checks_for(sha):
            if run.status != "completed":
                states.append("pending")
            elif run.conclusion in ("success", "neutral", "skipped"):
                states.append("success")
            else:
                states.append("failure")
        if not states:
            return None
        if any(s in ("failure", "error") for s in states):
            return "failure"
        if any(s == "pending" for s in states):
            return "pending"
        return "success"

    def open_change_for(self, head: str, base: str | None = None) -> ChangeRequest | None:
        for change in self.changes.values():
            if change.state == "open" and change.head == head and base in (None, change.base):
                return change
        return None
