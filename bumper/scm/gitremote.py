"""Plain git remotes (``forge: git``): no forge API, so no pull requests and no checks.

Only ``mode: commit`` works against such a repo: the worker pushes straight to the branch
(``bumper.gitrepo``). Every pull-request operation raises ``PermanentError(reason=
"unsupported")`` so a ``mode: pr`` target on a plain remote fails visibly with that reason
instead of silently committing. ``checks`` reports ``NONE`` and ``set_status`` does nothing:
there is nowhere to report to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from bumper.errors import PermanentError
from bumper.scm.base import Checks, CheckState, GitRemote, MergeMethod, MergeOutcome, PullRequest


class GitRemoteProvider:
    forge = "git"
    supports_pull_requests = False

    def __init__(
        self,
        url: str,
        *,
        branch: str = "main",
        username: str | None = None,
        token: str | None = None,
    ) -> None:
        self._remote = GitRemote(url, username, token)
        self._branch = branch

    @property
    def remote(self) -> GitRemote:
        return self._remote

    def default_branch(self) -> str:
        return self._branch

    def _unsupported(self, what: str) -> NoReturn:
        raise PermanentError(
            f"git remote: {what} needs a forge (github or gitlab); use mode: commit",
            reason="unsupported",
        )

    def find_open_pr(self, head_branch: str, base_branch: str | None = None) -> PullRequest | None:
        return None  # there are never any: the worker then opens one, which fails visibly

    def get_pr(self, number: int) -> PullRequest:
        self._unsupported("get a pull request")

    def open_pr(self, head_branch: str, base_branch: str, title: str, body: str) -> PullRequest:
        self._unsupported("open a pull request")

    def update_pr(
        self, number: int, *, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        self._unsupported("update a pull request")

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        self._unsupported("labels")

    def request_reviewers(self, number: int, reviewers: Sequence[str]) -> None:
        self._unsupported("reviewers")

    def comment(self, number: int, body: str) -> None:
        self._unsupported("comments")

    def may_write(self, login: str, user_id: int | None = None) -> bool:
        return False  # a plain git remote has no users: nobody commands through it

    def login(self) -> str:
        return ""

    def close_pr(self, number: int, comment: str | None = None) -> None:
        self._unsupported("close a pull request")

    def merge(
        self,
        number: int,
        *,
        sha: str,
        method: MergeMethod = MergeMethod.MERGE,
        when_checks_pass: bool = True,
    ) -> MergeOutcome:
        self._unsupported("merge a pull request")

    def checks(self, sha: str) -> Checks:
        return Checks(CheckState.NONE, sha)

    def set_status(
        self,
        sha: str,
        state: CheckState,
        *,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> None:
        return None
