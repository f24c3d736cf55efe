"""The seams where the pull agent and push mode differ: what the engine asks of its caller.

- ``Commits``: where commits and their renders come from (the agent: ``source.GitSource``
  fetch → verify → export; push mode: a ``gitrepo.Checkout`` of the branch).
- ``Announcer``: who hears about a rollout besides the status ConfigMap and Events (the agent:
  commit statuses and a revert PR through ``bumper.agent.forge``; push mode: nobody, the
  worker reads the returned ``Outcome`` and writes its decision log and PR comment).
- ``BadImageSink``: where bad-image records go besides the ConfigMap (the agent: its
  ``reporter``, to the web process's API; push mode: the worker's store). Whatever it returns
  is ignored; it must not block for long.

Must not: import anything beyond ``bumper.agent``'s manifests (ports carry plain data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from bumper.agent.manifests import Obj

BadImageSink = Callable[[list[dict[str, Any]]], object]


class Commits(Protocol):
    def tip(self) -> str:
        """The branch tip now (fetching first when the source is remote)."""
        ...

    def render(self, sha: str) -> list[Obj]:
        """The objects of ``sha``; raises a ``BumperError`` (render, signature, git)."""
        ...

    def fallback(self, sha: str) -> str | None:
        """What to roll back to when no commit was healthy yet (None: nothing)."""
        ...


class Announcer(Protocol):
    def progressing(self, sha: str) -> None: ...

    def healthy(self, sha: str) -> None: ...

    def failed(self, sha: str, text: str) -> None: ...

    def rolled_back(self, bad: str, good: str, reason: str) -> str | None:
        """Announce a rollback; a link to show (a revert PR), if any."""
        ...


class Quiet:
    """Announces nothing: the caller reports from the returned ``Outcome``."""

    def progressing(self, sha: str) -> None:
        return None

    def healthy(self, sha: str) -> None:
        return None

    def failed(self, sha: str, text: str) -> None:
        return None

    def rolled_back(self, bad: str, good: str, reason: str) -> str | None:
        return None


def no_sink(records: list[dict[str, Any]]) -> None:
    """Bad images go to the ConfigMap only."""
