"""Promotion pipelines' decisions: where one digest stands in each environment, and which
environment it may enter next. Pure: the worker (``worker.promotion``) reads the evidence
and records from Redis, calls ``decide``, and acts on the plan.

The rules (docs/promotion.md):

- The first environment follows the tag policy (its rule bumps it); a digest is *in* it once
  its agent reported it running.
- A later environment receives exactly the ``tag@digest`` that ran healthy in the one before
  it, once every part of its gate holds: ``healthy_for`` (ready in the previous environment,
  continuously, since ``ready_since``, and reported ready no longer than ``max_report_age``
  ago: a report never received never counts), the CI result, and ``approval: pr`` (the
  promotion is a PR a human merges: it waits for the merge, is promoted by it, and shows
  running once the environment's agent, if it names one, reports it).
- A failure (an unhealthy report: the agent rolled it back) in any environment stops the
  pipeline for that digest, with the reason. A newer digest in the first environment
  supersedes an older one that has not left it: each digest has its own clock.

Must not: read clocks, Redis or config files (everything comes in as arguments).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

State = Literal["promoted", "waiting", "blocked", "pending"]
CiStatus = Literal["success", "failure", "cancelled", "unknown"]


@dataclass(frozen=True)
class Gate:
    """What entering one environment needs (``config.PromotionGate``, reduced to data)."""

    healthy_for: int | None = None
    ci: str | None = None  # a label: "github/e2e"
    approval: bool = False


@dataclass(frozen=True)
class Environment:
    name: str
    agent: str | None
    gate: Gate = Gate()


@dataclass(frozen=True)
class Evidence:
    """What one environment's reports say of one digest."""

    ready_since: float | None = None  # ready in every report since then; None: not now
    last_ready_at: float | None = None  # the newest report that said ready
    failed: str | None = None  # an unhealthy report's reason (rolled back)


@dataclass(frozen=True)
class Entered:
    """A promotion Bumper made: when, and the change (commit sha or PR URL)."""

    at: float
    change: str = ""
    merged_at: float | None = None  # approval: pr: when a human merged the promotion PR
    closed: bool = False  # approval: pr: the PR was closed without merging


@dataclass(frozen=True)
class Digest:
    """One digest of the pipeline's image, with everything known about it."""

    digest: str
    tag: str
    evidence: Mapping[str, Evidence] = field(default_factory=dict)  # environment → evidence
    entered: Mapping[str, Entered] = field(default_factory=dict)  # environment → promotion
    ci: CiStatus | None = None  # the CI result for its revision, when the gate has one
    superseded_by: str | None = None  # a newer digest in the first environment


@dataclass(frozen=True)
class Status:
    """One environment's line for one digest."""

    environment: str
    state: State
    detail: str  # promoted: the change; waiting: the gate; blocked: the reason
    since: float | None = None
    until: float | None = None  # waiting on a soak: when it runs out (given fresh reports)


@dataclass(frozen=True)
class Plan:
    statuses: tuple[Status, ...]
    promote: str | None = None  # the environment to promote the digest into now


def decide(
    environments: Sequence[Environment], digest: Digest, now: float, max_report_age: float
) -> Plan:
    """Each environment's status for ``digest`` and the one to promote it into, if any."""
    statuses: list[Status] = []
    promote: str | None = None
    for index, env in enumerate(environments):
        if statuses and statuses[-1].state != "promoted":
            previous = statuses[-1]
            if previous.state == "blocked":
                statuses.append(Status(env.name, "blocked", previous.detail))
            else:
                statuses.append(Status(env.name, "pending", f"not in {previous.environment} yet"))
            continue
        failed = digest.evidence.get(env.name, Evidence()).failed
        if failed is not None:
            statuses.append(Status(env.name, "blocked", f"failed in {env.name}: {failed}"))
            continue
        if index == 0:
            status = _first(env, digest)
        else:
            status = _later(environments[index - 1], env, digest, now, max_report_age)
        if status.detail == READY_TO_PROMOTE:
            promote = env.name
        statuses.append(status)
    return Plan(tuple(statuses), promote)


READY_TO_PROMOTE = "gate passed: promoting"
ALREADY_RUNNING = "already running there (reported ready)"


def _runs_now(evidence: Evidence | None, now: float, max_report_age: float) -> bool:
    """A fresh report says the environment runs the digest, ready, right now."""
    return (
        evidence is not None
        and evidence.ready_since is not None
        and evidence.last_ready_at is not None
        and now - evidence.last_ready_at <= max_report_age
    )


def _first(env: Environment, digest: Digest) -> Status:
    evidence = digest.evidence.get(env.name)
    if digest.superseded_by is not None and not _left_first(digest):
        return Status(env.name, "blocked", f"superseded by {digest.superseded_by}")
    if evidence is None or (evidence.ready_since is None and evidence.last_ready_at is None):
        return Status(env.name, "pending", f"no report of it running in {env.name}")
    return Status(env.name, "promoted", "running (tag policy)", evidence.ready_since)


def _left_first(digest: Digest) -> bool:
    return bool(digest.entered)


def _later(
    before: Environment, env: Environment, digest: Digest, now: float, max_report_age: float
) -> Status:
    entered = digest.entered.get(env.name)
    evidence = digest.evidence.get(env.name)
    if entered is not None:
        running = evidence is not None and evidence.last_ready_at is not None
        if env.gate.approval and not running:
            return _approval(env, entered)
        return Status(env.name, "promoted", entered.change or "promoted", entered.at)
    if _runs_now(evidence, now, max_report_age):
        # Already there (the state a pipeline starts from, or a deploy by other means): a
        # promotion would only pin what runs; the next environment's gate reads this one.
        assert evidence is not None and evidence.ready_since is not None
        return Status(env.name, "promoted", ALREADY_RUNNING, evidence.ready_since)
    gate = env.gate
    if gate.healthy_for is not None:
        waiting = _soak(before, env, gate.healthy_for, digest, now, max_report_age)
        if waiting is not None:
            return waiting
    if gate.ci is not None:
        if digest.ci in ("failure", "cancelled"):
            return Status(env.name, "blocked", f"CI {gate.ci}: {digest.ci}")
        if digest.ci != "success":
            return Status(env.name, "waiting", f"CI {gate.ci} to succeed", _ready(before, digest))
    return Status(env.name, "waiting", READY_TO_PROMOTE)


def _approval(env: Environment, entered: Entered) -> Status:
    """A promotion PR not yet reported running: waiting for its merge, promoted by it (and
    waiting for the environment's agent, if it names one), or blocked when it was closed."""
    if entered.closed:
        return Status(env.name, "blocked", f"approval: {entered.change} closed without merging")
    if entered.merged_at is None:
        return Status(env.name, "waiting", f"approval: merge {entered.change}", entered.at)
    report = f"; waiting for {env.agent} to report it running" if env.agent else ""
    return Status(env.name, "promoted", f"merged {entered.change}{report}", entered.merged_at)


def _soak(
    before: Environment,
    env: Environment,
    healthy_for: int,
    digest: Digest,
    now: float,
    max_report_age: float,
) -> Status | None:
    """Why the digest has not yet run healthy for ``healthy_for`` in ``before``; None once it
    has. Only reports count: the clock starts at the first ready report and runs out only with
    a ready report no older than ``max_report_age``."""
    gate = f"healthy_for {_duration(healthy_for)} in {before.name}"
    evidence = digest.evidence.get(before.name)
    if evidence is None or evidence.ready_since is None or evidence.last_ready_at is None:
        return Status(env.name, "waiting", f"{gate} (not reported ready)")
    since = evidence.ready_since
    if now - evidence.last_ready_at > max_report_age:
        age = _duration(int(now - evidence.last_ready_at))
        return Status(env.name, "waiting", f"{gate} (last ready report {age} ago)", since)
    if now - since < healthy_for:
        return Status(env.name, "waiting", gate, since, until=since + healthy_for)
    return None


def _ready(before: Environment, digest: Digest) -> float | None:
    evidence = digest.evidence.get(before.name)
    return evidence.ready_since if evidence is not None else None


def left(status: Mapping[str, object], now: float) -> str | None:
    """How long a stored waiting status still soaks (``"4m12s"``), or None when it waits on
    something else; ``"0s"`` once the soak ran out (promoted at the next evaluation)."""
    until = status.get("until")
    if status.get("state") != "waiting" or not isinstance(until, int | float):
        return None
    return clock(max(0, int(until - now)))


def clock(seconds: int) -> str:
    """``3725`` → ``1h2m5s``: a duration for people."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s"]
    text = "".join(parts)
    return text.removesuffix("0s") if text != "0s" else text


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"
