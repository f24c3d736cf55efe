"""The promotion state machine (``bumper.core.promotion``): pure, no clock, no Redis."""

from __future__ import annotations

from bumper.core.promotion import (
    ALREADY_RUNNING,
    READY_TO_PROMOTE,
    Digest,
    Entered,
    Environment,
    Evidence,
    Gate,
    decide,
)

ENVS = (
    Environment("dev", "dev"),
    Environment("staging", "staging", Gate(healthy_for=600)),
    # no agent: nothing can report prod (worker.promotion passes reported=False for it)
    Environment(
        "prod", None, Gate(healthy_for=3600, ci="github/e2e", approval=True), reported=False
    ),
)
D = "sha256:" + "a" * 64
AGE = 300.0


def states(plan: object) -> list[tuple[str, str]]:
    return [(s.environment, s.state) for s in plan.statuses]  # type: ignore[attr-defined]


def test_a_digest_never_reported_waits_in_the_first_environment_and_promotes_nothing() -> None:
    plan = decide(ENVS, Digest(D, "1.0.0"), now=10_000, max_report_age=AGE)
    assert states(plan) == [("dev", "pending"), ("staging", "pending"), ("prod", "pending")]
    assert plan.promote is None


def test_the_soak_runs_from_the_first_ready_report_and_promotes_when_it_ran_out() -> None:
    ready = {"dev": Evidence(ready_since=1000, last_ready_at=1590)}
    plan = decide(ENVS, Digest(D, "1.0.0", ready), now=1599, max_report_age=AGE)
    assert plan.promote is None
    assert plan.statuses[1].detail == "healthy_for 10m in dev"
    assert plan.statuses[1].since == 1000
    assert plan.statuses[1].until == 1600  # what explain-promotion counts down to
    plan = decide(ENVS, Digest(D, "1.0.0", ready), now=1600, max_report_age=AGE)
    assert plan.promote == "staging"
    assert plan.statuses[1].detail == READY_TO_PROMOTE


def test_a_stale_report_never_counts_as_healthy() -> None:
    # ready once at 1000, then no report: the timer alone never promotes
    stale = {"dev": Evidence(ready_since=1000, last_ready_at=1000)}
    plan = decide(ENVS, Digest(D, "1.0.0", stale), now=5000, max_report_age=AGE)
    assert plan.promote is None
    assert "last ready report" in plan.statuses[1].detail


def test_a_failure_blocks_this_and_every_later_environment_with_its_reason() -> None:
    failed = {"dev": Evidence(ready_since=1000, last_ready_at=9000, failed="rolled back")}
    plan = decide(ENVS, Digest(D, "1.0.0", failed), now=9000, max_report_age=AGE)
    assert plan.promote is None
    assert [s.state for s in plan.statuses] == ["blocked"] * 3
    assert all(s.detail == "failed in dev: rolled back" for s in plan.statuses)


def test_a_superseded_digest_stops_in_the_first_environment() -> None:
    ready = {"dev": Evidence(ready_since=1000, last_ready_at=1900)}
    digest = Digest(D, "1.0.0", ready, superseded_by="sha256:" + "b" * 64)
    plan = decide(ENVS, digest, now=1900, max_report_age=AGE)
    assert plan.promote is None and plan.statuses[0].state == "blocked"
    assert "superseded" in plan.statuses[0].detail


def test_the_last_gate_needs_ci_and_then_waits_for_the_pr_to_be_merged() -> None:
    evidence = {
        "dev": Evidence(ready_since=0, last_ready_at=9000),
        "staging": Evidence(ready_since=1000, last_ready_at=9000),
    }
    entered = {"staging": Entered(700, "abc123")}
    digest = Digest(D, "1.0.0", evidence, entered)
    plan = decide(ENVS, digest, now=9000, max_report_age=AGE)
    assert plan.promote is None
    assert plan.statuses[2].detail == "CI github/e2e to succeed"
    failing = Digest(D, "1.0.0", evidence, entered, ci="failure")
    assert decide(ENVS, failing, now=9000, max_report_age=AGE).statuses[2].state == "blocked"
    passing = Digest(D, "1.0.0", evidence, entered, ci="success")
    assert decide(ENVS, passing, now=9000, max_report_age=AGE).promote == "prod"
    opened = {**entered, "prod": Entered(9100, "https://forge/pr/7")}
    plan = decide(ENVS, Digest(D, "1.0.0", evidence, opened, "success"), 9200, AGE)
    assert plan.statuses[2].state == "waiting"
    assert plan.statuses[2].detail == "approval: merge https://forge/pr/7"
    assert plan.promote is None  # never promoted twice


def test_a_merged_approval_pr_waits_for_the_named_agent_to_report_it() -> None:
    envs = (ENVS[0], ENVS[1], Environment("prod", "prod", Gate(approval=True)))
    evidence = {
        "dev": Evidence(ready_since=0, last_ready_at=9000),
        "staging": Evidence(ready_since=1000, last_ready_at=9000),
    }
    merged = {"staging": Entered(700, "abc123"), "prod": Entered(9100, "PR-7", merged_at=9150)}
    plan = decide(envs, Digest(D, "1.0.0", evidence, merged), 9200, AGE)
    prod = plan.statuses[2]
    assert (prod.state, prod.since) == ("waiting", 9150)
    assert prod.detail == "agent report: prod to report it running (merged PR-7)"
    running = {**evidence, "prod": Evidence(ready_since=9300, last_ready_at=9300)}
    plan = decide(envs, Digest(D, "1.0.0", running, merged), 9400, AGE)
    assert (plan.statuses[2].state, plan.statuses[2].detail) == ("promoted", "PR-7")
    closed = {**merged, "prod": Entered(9100, "PR-7", closed=True)}
    plan = decide(envs, Digest(D, "1.0.0", evidence, closed), 9200, AGE)
    assert plan.statuses[2].state == "blocked"
    assert plan.statuses[2].detail == "approval: PR-7 closed without merging"
    assert plan.promote is None


def test_a_digest_already_running_in_a_later_environment_is_not_promoted_into_it_again() -> None:
    # the state a pipeline starts from: the same digest runs, ready, in dev and staging
    running = {
        "dev": Evidence(ready_since=1000, last_ready_at=9000),
        "staging": Evidence(ready_since=1000, last_ready_at=9000),
    }
    plan = decide(ENVS, Digest(D, "1.0.0", running), now=9000, max_report_age=AGE)
    assert plan.promote is None  # neither staging (already there) nor prod
    assert (plan.statuses[1].state, plan.statuses[1].detail) == ("promoted", ALREADY_RUNNING)
    # prod has no agent: only a digest Bumper brought into staging itself may go on
    assert plan.statuses[2].detail == (
        "agent report: no agent reports prod; 1.0.0 was found running in staging, "
        "not brought there by Bumper"
    )
    # a stale report of it running is not enough: staging's own gate applies again
    stale = {**running, "staging": Evidence(ready_since=1000, last_ready_at=1000)}
    plan = decide(ENVS, Digest(D, "1.0.0", stale), now=9000, max_report_age=AGE)
    assert plan.promote == "staging"


def test_a_later_environment_needs_a_fresh_ready_report_before_it_whatever_its_gate() -> None:
    envs = (Environment("dev", "dev"), Environment("staging", "staging", Gate(approval=True)))
    plan = decide(envs, Digest(D, "1.1.0", tag_policy=True), now=9000, max_report_age=AGE)
    assert plan.promote is None  # not even in dev yet
    reported = {"dev": Evidence(ready_since=8000, last_ready_at=8000)}  # stale
    plan = decide(envs, Digest(D, "1.1.0", reported, tag_policy=True), 9000, AGE)
    assert plan.promote is None
    assert plan.statuses[1].detail == "a ready report from dev (last ready report 1000s ago)"
    fresh = {"dev": Evidence(ready_since=8000, last_ready_at=8990)}
    assert decide(envs, Digest(D, "1.1.0", fresh, tag_policy=True), 9000, AGE).promote == "staging"


def test_a_commit_into_an_environment_with_an_agent_waits_for_that_agent_s_report() -> None:
    evidence = {"dev": Evidence(ready_since=0, last_ready_at=9000)}
    entered = {"staging": Entered(8000, "abc123")}
    plan = decide(ENVS, Digest(D, "1.0.0", evidence, entered), now=9000, max_report_age=AGE)
    staging = plan.statuses[1]
    assert (staging.state, staging.since) == ("waiting", 8000)
    assert staging.detail == "agent report: staging to report it running (abc123)"
    assert plan.statuses[2].state == "pending" and plan.promote is None


def test_an_unseen_environment_gets_only_a_digest_bumper_brought_into_the_one_before() -> None:
    envs = (
        Environment("dev", "dev"),
        Environment("staging", "staging", Gate(healthy_for=60)),
        Environment("prod", None, Gate(healthy_for=60), reported=False),
    )
    # the state a pipeline starts from: 1.0.0 found running in dev and staging
    found = {
        "dev": Evidence(ready_since=1000, last_ready_at=9000),
        "staging": Evidence(ready_since=1000, last_ready_at=9000),
    }
    plan = decide(envs, Digest(D, "1.0.0", found), now=9000, max_report_age=AGE)
    assert plan.promote is None
    prod = plan.statuses[2]
    assert prod.state == "waiting"
    assert prod.detail == (
        "agent report: no agent reports prod; 1.0.0 was found running in staging, "
        "not brought there by Bumper"
    )
    # promoted into staging by Bumper (and reported there): prod gets it
    brought = Digest(D, "1.1.0", found, {"staging": Entered(900, "abc123")})
    assert decide(envs, brought, now=9000, max_report_age=AGE).promote == "prod"
    # an agent that never reported: the same, named
    silent = (envs[0], Environment("staging", "staging", Gate(healthy_for=60), reported=False))
    only_dev = {"dev": found["dev"]}
    plan = decide(silent, Digest(D, "1.0.0", only_dev), now=9000, max_report_age=AGE)
    assert plan.statuses[1].detail.startswith("agent report: staging has never reported; ")
    pushed = Digest(D, "1.1.0", only_dev, tag_policy=True)  # the tag policy brought it to dev
    assert decide(silent, pushed, now=9000, max_report_age=AGE).promote == "staging"


def test_an_observation_that_says_why_it_is_not_ready_blocks_the_soak_with_that() -> None:
    unhealthy = {"dev": Evidence(None, 8990, unready="Deployment/api: 0 of 1 updated available")}
    plan = decide(ENVS, Digest(D, "1.1.0", unhealthy), now=9000, max_report_age=AGE)
    assert [s.state for s in plan.statuses] == ["promoted", "blocked", "blocked"]
    assert plan.statuses[1].detail == "unhealthy in dev: Deployment/api: 0 of 1 updated available"
    recovered = {"dev": Evidence(8995, 8995)}
    plan = decide(ENVS, Digest(D, "1.1.0", recovered), now=9000, max_report_age=AGE)
    assert (plan.statuses[1].state, plan.statuses[1].until) == ("waiting", 9595)
