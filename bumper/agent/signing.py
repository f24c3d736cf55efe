"""The agent's signature policy: what a branch tip must pass before its render is applied.

- **Ancestry.** The tip must descend from the last applied commit (the status ConfigMap's
  ``commit``, read back after a restart), unless ``allow_rewind``: a force-push back to an
  older signed commit (a rollback attack) is refused. A tip equal to it is fine.
- **Every new commit.** With signatures required, each commit reachable from the tip and not
  from the last applied commit is verified, merged branches included, not the tip alone: an
  unsigned commit in the middle is refused. At most ``max_commits`` per tip; more is refused
  with an error saying so. Before anything was applied, the tip alone is verified.
- **Expiry by the agent's clock.** Each commit is judged with the keys valid when the agent
  *first saw* it (``source.GitSource.verify(at=...)``), whatever date the commit claims: a
  backdated commit signed with an expired key is refused. First-seen times persist in the
  ``<agent>-signatures`` ConfigMap (``Ledger``), so a restart neither forgets nor resets them.

Refusals raise ``SignatureError`` (reason ``signature``, ``rewind`` or ``too-many-commits``);
the engine then applies nothing and reports it. Must not: talk to the cluster (the ledger's
store is given) or apply anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from bumper.agent import source as git
from bumper.errors import SignatureError

LEDGER_SIZE = 5000  # first-seen times kept; the oldest are dropped beyond it


class Store(Protocol):
    """Where the ledger lives (the agent: a ConfigMap of its state namespace)."""

    def read(self) -> Mapping[str, str] | None: ...

    def write(self, data: Mapping[str, str]) -> None: ...


class Ledger:
    """When the agent first saw each commit, by its own clock; read once, written on change."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._seen: dict[str, float] | None = None

    def first_seen(self, shas: list[str]) -> dict[str, float]:
        """Each commit's first-seen time; commits never seen before are seen now (and saved)."""
        seen = self._load()
        now = self.clock()
        fresh = [sha for sha in shas if sha not in seen]
        for sha in fresh:
            seen[sha] = now
        if fresh:
            keep = sorted(seen.items(), key=lambda item: item[1])[-LEDGER_SIZE:]
            self._seen = dict(keep)
            self.store.write({"firstSeen": json.dumps(self._seen, separators=(",", ":"))})
        return {sha: seen[sha] for sha in shas}

    def _load(self) -> dict[str, float]:
        if self._seen is None:
            data = self.store.read() or {}
            try:
                loaded = json.loads(data.get("firstSeen") or "{}")
            except ValueError:
                loaded = {}
            self._seen = {
                str(sha): float(at)
                for sha, at in (loaded.items() if isinstance(loaded, dict) else [])
                if isinstance(at, int | float)
            }
        return self._seen


class Policy:
    def __init__(
        self,
        source: git.GitSource,
        ledger: Ledger,
        *,
        allow_rewind: bool = False,
        max_commits: int = 500,
    ) -> None:
        self.source = source
        self.ledger = ledger
        self.allow_rewind = allow_rewind
        self.max_commits = max_commits

    def admit(self, tip: str, applied: str) -> None:
        """Raise ``SignatureError`` unless ``tip`` may follow ``applied`` ("" if none yet)."""
        if applied and applied != tip and not self.source.is_ancestor(applied, tip):
            if not self.allow_rewind:
                raise SignatureError(
                    f"branch tip {tip[:12]} does not descend from the last applied commit "
                    f"{applied[:12]}: a rewind or rewritten history is refused "
                    "(allow_rewind: true accepts it)",
                    reason="rewind",
                )
        if not self.source.trust.enabled or applied == tip:
            return
        new = self.source.new_commits(tip, applied or None, self.max_commits + 1)
        if not applied:
            new = [tip]  # nothing applied yet: no base to verify a range from
        if len(new) > self.max_commits:
            raise SignatureError(
                f"more than {self.max_commits} new commits between {applied[:12]} and "
                f"{tip[:12]}; each must be verified, so the tip is refused "
                "(raise max_verified_commits to accept it)",
                reason="too-many-commits",
            )
        seen = self.ledger.first_seen(new)
        for sha in reversed(new):  # oldest first: the first bad commit is the one reported
            try:
                self.source.verify(sha, at=seen[sha])
            except SignatureError as error:
                if sha == tip:
                    raise
                raise SignatureError(
                    f"{error}; it is one of {len(new)} new commits between {applied[:12]} "
                    f"and the tip {tip[:12]}, and each must be signed"
                ) from error
