"""Merging change requests for real in the bare repo, and the auto-merge loop.

Both API flavours call ``merge``; errors come back as ``ApiError`` with the status each forge
uses, chosen by the caller through ``MergeRefusal.kind``. ``evaluate`` runs after every push and
every status report and merges the change requests whose auto-merge is armed and whose checks
have passed (GitHub auto-merge, GitLab merge-when-pipeline-succeeds).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tests.support.forgesim.model import ChangeRequest, Comment, SimRepo

if TYPE_CHECKING:
    from tests.support.forgesim.sim import ForgeSim


class MergeRefusal(Exception):
    """Why a merge did not happen: kind is closed | sha | checks | conflict | missing | raced."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def mergeable(change: ChangeRequest) -> bool | None:
    """True/False for an open change request; None if a branch is gone."""
    attempt = change.repo.git.trial_merge(change.base, change.head)
    if attempt is None:
        return None
    return attempt.tree is not None


def checks_ok(repo: SimRepo, sha: str | None) -> bool:
    """Only a repo that requires checks refuses to merge before they succeed."""
    return not repo.require_checks or bool(sha and repo.combined_state(sha) == "success")


def merge(
    change: ChangeRequest,
    *,
    method: str = "merge",
    sha: str | None = None,
    title: str | None = None,
    message: str | None = None,
) -> str:
    """Merge ``change`` into its base in the bare repo; return the new base sha."""
    repo = change.repo
    if change.state != "open":
        raise MergeRefusal("closed", "Pull Request is not mergeable")
    head_sha = change.head_sha()
    if sha and head_sha != sha:
        raise MergeRefusal("sha", "Head branch was modified. Review and try the merge again.")
    if not checks_ok(repo, head_sha):
        raise MergeRefusal("checks", "Required status checks have not succeeded")
    attempt = repo.git.trial_merge(change.base, change.head)
    if attempt is None:
        raise MergeRefusal("missing", "Base or head branch does not exist")
    if attempt.tree is None:
        raise MergeRefusal("conflict", "Pull Request is not mergeable")
    if method == "rebase":
        raise MergeRefusal("unsupported", "merge_method rebase is not simulated")
    squash = method == "squash"
    subject = title or (
        f"{change.title} (#{change.number})"
        if squash
        else f"Merge pull request #{change.number} from {repo.owner}/{change.head}"
    )
    body = message if message is not None else ("" if squash else change.title)
    new_sha = repo.git.merge(change.base, attempt, f"{subject}\n\n{body}".strip() + "\n", squash)
    if new_sha is None:
        raise MergeRefusal("raced", "Base branch was modified. Review and try the merge again.")
    now = time.time()
    change.state, change.merged_at, change.closed_at = "merged", now, now
    change.merge_commit_sha, change.last_head_sha = new_sha, head_sha
    change.auto_merge = None
    change.touch()
    return new_sha


def evaluate(sim: ForgeSim, repo: SimRepo) -> None:
    """Merge armed change requests whose head checks succeeded; GitLab drops MWPS on failure."""
    for change in list(repo.changes.values()):
        if change.state != "open" or not change.auto_merge:
            continue
        head = change.head_sha()
        state = repo.combined_state(head) if head else None
        if state == "failure" and change.auto_merge.get("flavour") == "gitlab":
            change.auto_merge = None
            note = "aborted the automatic merge because the pipeline failed"
            change.comments.append(Comment(sim.next_id(), note, "bumper-bot", system=True))
            continue
        if state != "success":
            continue
        try:
            merge(
                change,
                method=change.auto_merge.get("method", "merge"),
                title=change.auto_merge.get("title") or None,
                message=change.auto_merge.get("message") or None,
            )
        except MergeRefusal:
            continue
