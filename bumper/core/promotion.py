"""Promotion pipelines' decisions: where one digest stands in each environment, and which
environment it may enter next. Pure: the worker (``worker.promotion``) reads the evidence
and records from Redis, calls ``decide``, and acts on the plan.

The rules (docs/promotion.md):

- The first environment follows the tag policy (its rule bumps it); a digest is *in* it once
  its agent reported it running.
- A later environment receives exactly the ``tag@digest`` that ran healthy in the one before
  it, once every part of its gate holds: verified health there (a ready report of that digest
  no older than ``max_report_age``, whatever the gate: a report never received never counts;
  ``healthy_for`` asks it ready continuously since ``ready_since`` for that long; a fresh
  observation that says why it is not ready blocks it), the CI result, and ``approval: pr``
  (the promotion is a PR a human merges: it waits for the merge).
- An environment that names an agent is ``promoted`` only once that agent reports the digest
  running; until then it waits for the agent's report, and the next environment is pending.
- Bumper promotes into an environment it cannot see (no agent, or an agent that never sent a
  report) only a digest it brought into the previous environment itself (the first
  environment's tag policy, or a promotion): a digest merely found running there (the state a
  pipeline starts from) may run in the unseen one already, so it waits for an agent report.
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
    # Its agent sent at least one report. Not derived from ``agent``: the caller knows the
    # reports, and worker.promotion passes False without an agent (nothing can report it).
    reported: bool = True


@dataclass(frozen=True)
class Evidence:
    """What one environment's reports say of one digest."""

    ready_since: float | None = None  # ready in every report since then; None: not now
    last_ready_at: float | None = None  # the newest report that said ready
    failed: str | None = None  # an unhealthy report's reason (rolled back)
    unready: str | None = None  # why the newest observation had it not ready, when it says


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
    tag_policy: bool = False  # the first environment's rule bumped its tag (Bumper brought it)


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
            before = environments[index - 1]
            status = _later(before, env, digest, now, max_report_age, after_first=index == 1)
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
    before: Environment,
    env: Environment,
    digest: Digest,
    now: float,
    max_report_age: float,
    *,
    after_first: bool,
) -> Status:
    entered = digest.entered.get(env.name)
    evidence = digest.evidence.get(env.name)
    if entered is not None:
        return _entered(env, entered, evidence)
    if _runs_now(evidence, now, max_report_age):
        # Already there (the state a pipeline starts from, or a deploy by other means): a
        # promotion would only pin what runs; the next environment's gate reads this one.
        assert evidence is not None and evidence.ready_since is not None
        return Status(env.name, "promoted", ALREADY_RUNNING, evidence.ready_since)
    brought = digest.tag_policy if after_first else before.name in digest.entered
    if not env.reported and not brought:
        return _unseen(before, env, digest)
    gate = env.gate
    waiting = _soak(before, env, gate.healthy_for or 0, digest, now, max_report_age)
    if waiting is not None:
        return waiting
    if gate.ci is not None:
        if digest.ci in ("failure", "cancelled"):
            return Status(env.name, "blocked", f"CI {gate.ci}: {digest.ci}")
        if digest.ci != "success":
            return Status(env.name, "waiting", f"CI {gate.ci} to succeed", _ready(before, digest))
    return Status(env.name, "waiting", READY_TO_PROMOTE)


AGENT_REPORT = "agent report"


def _entered(env: Environment, entered: Entered, evidence: Evidence | None) -> Status:
    """A promotion Bumper made: its PR waiting for a human (``approval: pr``), then, where the
    environment names an agent, waiting for that agent to report the digest running."""
    if evidence is not None and evidence.last_ready_at is not None:
        return Status(env.name, "promoted", entered.change or "promoted", entered.at)
    if entered.closed:
        return Status(env.name, "blocked", f"approval: {entered.change} closed without merging")
    if env.gate.approval and entered.merged_at is None:
        return Status(env.name, "waiting", f"approval: merge {entered.change}", entered.at)
    change = f"merged {entered.change}" if entered.merged_at is not None else entered.change
    at = entered.merged_at if entered.merged_at is not None else entered.at
    if env.agent is None:
        return Status(env.name, "promoted", change or "promoted", at)
    what = f"{AGENT_REPORT}: {env.agent} to report it running"
    return Status(env.name, "waiting", f"{what} ({change or 'queued'})", at)


def _unseen(before: Environment, env: Environment, digest: Digest) -> Status:
    """``env`` cannot be seen and Bumper did not bring the digest into ``before``: it may run
    in ``env`` already (the state a pipeline starts from), so it waits for an agent report."""
    who = f"{env.agent} has never reported" if env.agent else f"no agent reports {env.name}"
    name = digest.tag or digest.digest[:19]
    found = f"{name} was found running in {before.name}, not brought there by Bumper"
    return Status(env.name, "waiting", f"{AGENT_REPORT}: {who}; {found}")


def _soak(
    before: Environment,
    env: Environment,
    healthy_for: int,
    digest: Digest,
    now: float,
    max_report_age: float,
) -> Status | None:
    """Why the digest has not yet run healthy for ``healthy_for`` (0: a fresh ready report is
    enough) in ``before``; None once it has. Only reports count: the clock starts at the first
    ready report and runs out only with a ready report no older than ``max_report_age``; an
    observation that says why it is not ready (push mode's re-check) blocks it, with that."""
    if healthy_for:
        gate = f"healthy_for {_duration(healthy_for)} in {before.name}"
    else:
        gate = f"a ready report from {before.name}"
    evidence = digest.evidence.get(before.name)
    if evidence is not None and evidence.unready is not None and evidence.ready_since is None:
        return Status(env.name, "blocked", f"unhealthy in {before.name}: {evidence.unready}")
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
