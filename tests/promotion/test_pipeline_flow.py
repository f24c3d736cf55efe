"""Promotion pipelines end to end without a cluster: real Redis, real git through the forge
simulator (GitHub API), the real web app receiving agent reports (with agent tokens) that
carry ``running`` entries, and the worker's jobs run as ``bumper worker --burst`` would.

The reports stand in for the two agents on the real node (issue 20's acceptance test, which
needs (N)'s agent filling ``running`` from pods' imageID): everything after the report is the
production path. Soaks are 1 s; no assertion is about timing.
"""

from __future__ import annotations

import json

import redis
from flask.testing import FlaskClient

from bumper import decisions
from tests.promotion.harness import (
    D1,
    D2,
    IMAGE,
    REPO,
    drain,
    push,
    read,
    report,
    soak,
    staging_runs_the_baseline,
    statuses,
)
from tests.support.forgesim import ForgeSim
from worker import context, jobs, promotion
from worker.promotionstore import PromotionStore


def test_a_healthy_digest_goes_dev_then_staging_by_commit_then_prod_by_pr(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    jobs.handle_event(push("1.1.0", D1))
    drain(redis_client)
    assert f"{IMAGE}:1.1.0\n" in read(sim, "dev")
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    assert f"{IMAGE}:1.0.0\n" in read(sim, "staging")  # soaking
    assert statuses(redis_client, D1)["staging"] == "waiting"
    context.current.cache_clear()  # a worker restart: the clock is in Redis
    soak()
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "staging")  # the observed digest, pinned
    assert not sim.repo(REPO).changes  # staging is a commit
    report(web, "staging", "1.1.0", D1)
    soak()
    report(web, "staging", "1.1.0", D1)
    drain(redis_client)
    assert f"{IMAGE}:1.0.0\n" in read(sim, "prod")  # prod is a PR a human merges
    (pr,) = sim.repo(REPO).changes.values()
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "prod", pr.head)
    assert statuses(redis_client, D1) == {
        "dev": "promoted",
        "staging": "promoted",
        "prod": "waiting",
    }
    logged = [
        d for d in decisions.DecisionLog(redis_client).recent(limit=100) if d["rule"] == "promotion"
    ]
    assert any("promoted in staging" in d["why"] for d in logged)
    # the staging promotion commit carries its environment's status: promoted once reported
    staging_sha = sim.repo(REPO).git.sha("main")
    marks = [s for s in sim.repo(REPO).statuses if s.context == "bumper/promotion/staging"]
    assert [s.state for s in marks if s.sha == staging_sha][-1] == "success"
    assert [s.description for s in marks][-1] == f"promoted 1.1.0@{D1[:19]}"


def test_a_digest_that_fails_health_in_dev_never_reaches_staging(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    jobs.handle_event(push("1.2.0", D2))
    drain(redis_client)
    report(web, "dev", "1.2.0", D2)
    report(web, "dev", "1.2.0", D2, ready=False, bad="Deployment.apps/api not healthy after 300s")
    soak()
    report(web, "dev", "1.0.0", D1)  # rolled back
    drain(redis_client)
    assert f"{IMAGE}:1.0.0\n" in read(sim, "staging")
    record = PromotionStore(redis_client).digests("api")[D2]
    assert {s["state"] for s in record["statuses"]} == {"blocked"}
    assert "not healthy after 300s" in record["statuses"][1]["detail"]


def test_a_newer_push_during_the_soak_restarts_the_clock_for_the_new_digest_only(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    staging_runs_the_baseline(web)
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    report(web, "dev", "1.2.0", D2)  # 1.2.0 replaced 1.1.0 in dev during its soak
    drain(redis_client)
    since = PromotionStore(redis_client).evidence("dev")
    assert since[f"{IMAGE}@{D1}"]["ready_since"] is None
    assert since[f"{IMAGE}@{D2}"]["ready_since"] is not None
    soak()
    report(web, "dev", "1.2.0", D2)
    drain(redis_client)
    staging = read(sim, "staging")
    assert f"{IMAGE}:1.2.0@{D2}\n" in staging and D1 not in staging
    assert statuses(redis_client, D1)["dev"] == "blocked"  # superseded
    assert statuses(redis_client, D2)["staging"] == "waiting"  # for the staging agent's report
    report(web, "staging", "1.2.0", D2)
    drain(redis_client)
    assert statuses(redis_client, D2)["staging"] == "promoted"


def test_a_newer_digest_rolled_back_in_dev_supersedes_nothing(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    staging_runs_the_baseline(web)
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    report(web, "dev", "1.2.0", D2, ready=False, bad="Deployment.apps/api not healthy after 60s")
    report(web, "dev", "1.1.0", D1)  # the agent rolled back to 1.1.0
    soak()
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "staging")
    assert statuses(redis_client, D2)["dev"] == "blocked"


def test_a_garbled_record_does_not_stop_the_other_digests(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    garbled = {"first_seen": "x", "entered": {"staging": "bad", "prod": {"at": "y"}}, "statuses": 5}
    redis_client.hset("bumper:promotion:api", D2, json.dumps(garbled))
    staging_runs_the_baseline(web)
    report(web, "dev", "1.1.0", D1)
    soak()
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "staging")
    assert statuses(redis_client, D1)["staging"] == "waiting"  # for the staging agent's report


def test_an_environment_without_an_agent_is_never_reported(sim: ForgeSim) -> None:
    # bumper.core.promotion's Environment.reported: prod names no agent, so Bumper cannot see
    # it, even with every agent reporting (it then gets only a digest Bumper brought to staging)
    (pipeline,) = context.current().config.pipelines
    envs = promotion.environments(pipeline, reported={"dev", "staging"})
    assert [(e.name, e.agent, e.reported) for e in envs] == [
        ("dev", "dev", True),
        ("staging", "staging", True),
        ("prod", None, False),
    ]
