"""Promotion state as commit statuses (``worker.promotionstatus``): each later environment's
status under ``bumper/promotion/<env>`` on the commits that carry the digest, through the
GitHub API of the forge simulator. Real Redis, real git, the real web app and worker jobs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from bumper.core.promotion import Digest
from bumper.scm.base import CheckState
from tests.promotion.harness import D1, D2, IMAGE, REPO, drain, push, read, report, soak, statuses
from tests.support.forgesim import ForgeSim
from tests.support.forgesim.model import SimStatus
from worker import context, jobs, promotionstatus
from worker.promotionstore import PromotionStore


def main_sha(sim: ForgeSim) -> str:
    sha = sim.repo(REPO).git.sha("main")
    assert sha is not None
    return sha


def marks(sim: ForgeSim, env: str, sha: str) -> list[SimStatus]:
    """Every status written for ``env`` on ``sha``, oldest first."""
    return [
        s
        for s in sim.repo(REPO).statuses
        if s.context == f"bumper/promotion/{env}" and s.sha == sha
    ]


def in_dev(redis_client: redis.Redis, sim: ForgeSim, tag: str, digest: str) -> str:
    """Push ``tag@digest`` and run its bump: the sha of the dev commit that carries it."""
    jobs.handle_event(push(tag, digest))
    drain(redis_client)
    return main_sha(sim)


def ready_in_dev(
    redis_client: redis.Redis, sim: ForgeSim, web: FlaskClient, tag: str, digest: str
) -> str:
    """``in_dev``, then dev's agent reports it ready and the worker runs what that queues."""
    dev_sha = in_dev(redis_client, sim, tag, digest)
    report(web, "dev", tag, digest)
    drain(redis_client)
    return dev_sha


def test_a_digest_waits_with_its_gate_and_since_then_shows_promoted(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    dev_sha = ready_in_dev(redis_client, sim, web, "1.1.0", D1)
    (waiting,) = marks(sim, "staging", dev_sha)
    assert waiting.state == "pending"
    assert (waiting.description or "").startswith("waiting for healthy_for 1s in dev since 20")
    assert (waiting.description or "").endswith(" UTC")
    assert marks(sim, "prod", dev_sha) == []  # pending behind staging: nothing to say yet
    soak()
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)  # staging's promotion commit
    staging_sha = main_sha(sim)
    assert staging_sha != dev_sha
    report(web, "staging", "1.1.0", D1)
    drain(redis_client)
    for sha in (dev_sha, staging_sha):  # the pending on the dev commit does not dangle
        last = marks(sim, "staging", sha)[-1]
        assert (last.state, last.description) == ("success", f"promoted 1.1.0@{D1[:19]}")
    (prod,) = marks(sim, "prod", staging_sha)
    assert prod.state == "pending"
    assert (prod.description or "").startswith("waiting for healthy_for 1s in staging since ")


def test_an_unhealthy_report_blocks_with_its_reason_within_githubs_limit(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    dev_sha = in_dev(redis_client, sim, "1.2.0", D2)
    report(web, "dev", "1.2.0", D2)
    reason = "Deployment.apps/api not healthy after 300s: " + "CrashLoopBackOff; " * 20
    report(web, "dev", "1.2.0", D2, ready=False, bad=reason)
    report(web, "dev", "1.0.0", D1)  # rolled back
    drain(redis_client)
    blocked = marks(sim, "staging", dev_sha)[-1]
    assert blocked.state == "failure"
    text = blocked.description or ""
    assert text.startswith("blocked: failed in dev: Deployment.apps/api not healthy after 300s")
    assert len(text) == 140 and text.endswith("…")
    assert marks(sim, "prod", dev_sha)[-1].state == "failure"  # the pipeline stopped there


@pytest.mark.parametrize("gates", [{"staging_gate": "{healthy_for: 1h}"}])  # no soak runs out
def test_ticks_that_change_nothing_write_no_status(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    dev_sha = ready_in_dev(redis_client, sim, web, "1.1.0", D1)
    before = len(sim.repo(REPO).statuses)
    assert len(marks(sim, "staging", dev_sha)) == 1
    for tick in range(3):
        jobs.evaluate_promotions(f"{jobs.PROMOTION_JOB_PREFIX}{tick}-1")
        report(web, "dev", "1.1.0", D1)  # the same evidence again: same status
    drain(redis_client)
    assert len(sim.repo(REPO).statuses) == before


def test_a_repo_without_statuses_gets_none(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    jobs.handle_event(push("1.1.0", D1))
    drain(redis_client)
    assert f"{IMAGE}:1.1.0\n" in read(sim, "dev")  # the commit that carries the digest
    config = Path(os.environ["BUMPER_CONFIG_FILE"])  # the same repo, now as plain git
    lines = config.read_text().replace("forge: github", "forge: git").splitlines(keepends=True)
    config.write_text("".join(line for line in lines if "api_url:" not in line))
    context.current.cache_clear()
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    assert statuses(redis_client, D1)["staging"] == "waiting"  # the state is kept all the same
    assert sim.repo(REPO).statuses == []


def test_a_stale_report_is_described_without_its_changing_age() -> None:
    stale = {"state": "waiting", "detail": "healthy_for 10m in dev (last ready report 7m ago)"}
    assert promotionstatus.describe(stale, "1.1.0", D1) == (
        CheckState.PENDING,
        "waiting for healthy_for 10m in dev (no fresh ready report)",
    )
    assert promotionstatus.describe({"state": "pending", "detail": "x"}, "1.1.0", D1) is None


def test_on_gitlab_only_a_change_of_state_is_written(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    config = Path(os.environ["BUMPER_CONFIG_FILE"])
    text = config.read_text().replace("forge: github", "forge: gitlab")
    config.write_text(text.replace(f"api_url: {sim.github_api_url}", f"api_url: {sim.gitlab_url}"))
    context.current.cache_clear()
    dev_sha = ready_in_dev(redis_client, sim, web, "1.1.0", D1)
    soak()
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)  # staging's commit: it now waits for the staging agent, still running
    report(web, "staging", "1.1.0", D1)
    drain(redis_client)
    written = [(s.native or s.state, s.description or "") for s in marks(sim, "staging", dev_sha)]
    assert [native for native, _ in written] == ["running", "success"]  # never running twice
    assert written[0][1].startswith("waiting for healthy_for 1s in dev since ")


def test_a_tick_reads_redis_twice_whatever_the_number_of_digests(
    sim: ForgeSim, redis_client: redis.Redis
) -> None:
    ctx = context.current()
    (pipeline,) = ctx.config.pipelines
    (repo,) = ctx.config.repos
    pstore = PromotionStore(redis_client)
    waiting = [
        {"environment": "dev", "state": "promoted", "detail": "found"},
        {"environment": "staging", "state": "waiting", "detail": "healthy_for 1s in dev"},
        {"environment": "prod", "state": "pending", "detail": "staging"},
    ]
    dev_sha = main_sha(sim)
    evaluated = []
    for n in range(20):
        digest = f"sha256:{n:064x}"
        pstore.note_commit(pipeline.name, digest, "dev", dev_sha, repo.name)
        evaluated.append((Digest(digest, f"1.{n}.0"), waiting))
    evaluated.append((Digest(D2, "0.9.0"), waiting))  # found running: no commit carries it
    assert promotionstatus.publish(ctx, pipeline, evaluated) == 20
    redis_client.config_resetstat()
    assert promotionstatus.publish(ctx, pipeline, evaluated) == 0  # nothing changed
    calls = {
        name.removeprefix("cmdstat_"): stats["calls"]
        for name, stats in redis_client.info("commandstats").items()
    }
    for admin in ("config", "info"):  # the test's own
        calls.pop(admin, None)
    assert calls == {"hmget": 2}
