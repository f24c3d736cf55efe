"""The records a bump passes along its pipeline: what a bump run did (``BumpOutcome``), what
its push deploy is asked (``PushRequest``) and what that deploy did (``Deployment``).

They sit apart from the modules that fill them (``bump``, ``pullrequests``, ``pushdeploy``), so
those modules can share them without importing one another. Data only: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bumper import gitrepo
from bumper.core import changes, policy
from bumper.errors import PermanentError
from bumper.scm.base import ScmProvider
from worker.store import StoredCandidate
from worker.targets import ResolvedTarget

State = Literal["healthy", "unchanged", "refused", "rolled-back", "failed"]


@dataclass
class Deployment:
    """What one push deploy did. ``seconds``: from the bump job's start until the rollout was
    verified (or found failed); ``rollback_seconds``: from then until the previous render was
    live and healthy again."""

    target: str
    commit: str
    state: State
    message: str
    ref: str = ""  # the rule's image as the tip's render has it (tag[@digest])
    previous: str | None = None
    applied: int = 0
    seconds: float = 0.0
    rollback_seconds: float | None = None
    bad: list[str] = field(default_factory=list)
    # What the target's workloads run after the deploy, observed from their pods (the report
    # schema's ``Running`` entries, ``bumper.agent.running``): push mode's health evidence.
    running: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "commit": self.commit,
            "previous": self.previous,
            "message": self.message,
            "seconds": round(self.seconds, 2),
            "rollback_seconds": (
                None if self.rollback_seconds is None else round(self.rollback_seconds, 2)
            ),
            "bad": self.bad,
            "running": self.running,
        }

    def raise_if_failed(self) -> None:
        if self.state == "failed":
            raise PermanentError(f"push deploy of {self.target}: {self.message}", reason="deploy")


# A policy decision and the stored candidate it judges (whose event the decision log links).
Verdict = tuple[StoredCandidate, policy.Decision]


@dataclass
class BumpOutcome:
    """What a bump run did: the result (None: nothing to change) and where it went."""

    key: str
    result: changes.BumpResult | None = None
    sha: str | None = None
    pushed: bool = False
    pr: dict[str, Any] | None = None
    verdicts: list[Verdict] = field(default_factory=list)  # one per candidate seen
    keep: StoredCandidate | None = None  # candidate left in place for the open PR
    waiting: list[StoredCandidate] = field(default_factory=list)  # past a pin: until release
    deployment: Deployment | None = None  # push mode (step 8)
    # what the config repo held when scanned: its HEAD and each file's reference (dashboard)
    observed: dict[str, Any] = field(default_factory=dict)

    @property
    def decisions(self) -> list[policy.Decision]:
        return [decision for _, decision in self.verdicts]


@dataclass(frozen=True)
class PushRequest:
    """One bump run of a push target, as ``bump.bump_target`` hands it to ``pushdeploy``."""

    named: ResolvedTarget  # the target key (``api/0``), its rule, target and repo
    outcome: BumpOutcome
    seen: list[StoredCandidate]
    url: str  # where the config repo is cloned from
    credentials: gitrepo.Credentials | None
    forge: ScmProvider | None
    started: float  # monotonic time the bump job started
