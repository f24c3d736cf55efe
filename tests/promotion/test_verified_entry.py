"""Promotion into an environment follows only verified health of that exact digest in the
environment before it, and never lands in an environment Bumper cannot see on a digest it did
not bring there itself (issue 20, the audit's gap: a PR for the baseline 1.0.0 to prod, whose
agent never reported). Real Redis, web app (agent reports), worker jobs and forge simulator;
the harness's prod has no agent.
"""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient

from bumper import cli
from tests.promotion.harness import D1, IMAGE, REPO, drain, push, read, report, soak
from tests.support.forgesim import ForgeSim
from worker import jobs
from worker.promotionstore import PromotionStore


@pytest.fixture
def gates() -> dict[str, str]:
    return {"prod_gate": "{healthy_for: 1s, approval: pr}"}


def status(client: redis.Redis, environment: str) -> tuple[str, str]:
    record = PromotionStore(client).digests("api")[D1]
    found = next(s for s in record["statuses"] if s["environment"] == environment)
    return str(found["state"]), str(found["detail"])


def test_the_baseline_digest_gets_no_pr_into_an_environment_nothing_reports(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # The state a pipeline starts from: 1.0.0 runs, ready, in dev and staging; nothing reports
    # what runs in prod, so Bumper cannot tell that prod runs it too.
    for _ in range(2):
        report(web, "dev", "1.0.0", D1)
        report(web, "staging", "1.0.0", D1)
        soak()
    drain(redis_client)
    jobs.evaluate_promotions("promotion-tick-15-1")
    drain(redis_client)
    assert not sim.repo(REPO).changes, "a PR for the baseline digest into prod"
    assert f"{IMAGE}:1.0.0\n" in read(sim, "prod")
    state, detail = status(redis_client, "prod")
    assert state == "waiting" and detail.startswith("agent report:"), detail
    capsys.readouterr()
    assert cli.main(["explain-promotion", IMAGE]) == 0
    (prod,) = [line for line in capsys.readouterr().out.splitlines() if "prod " in line]
    assert prod.split() == [
        *("prod", "waiting", "agent", "report:", "no", "agent", "reports", "prod;"),
        *("1.0.0", "was", "found", "running", "in", "staging,", "not", "brought"),
        *("there", "by", "Bumper"),
    ], prod


def test_a_commit_into_staging_is_not_verified_health_until_its_agent_reports_it(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    jobs.handle_event(push("1.1.0", D1))
    drain(redis_client)
    report(web, "dev", "1.1.0", D1)
    soak()
    report(web, "dev", "1.1.0", D1)
    drain(redis_client)
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "staging")
    soak()  # prod's own soak would have run out, were the commit evidence
    for tick in range(2):
        jobs.evaluate_promotions(f"promotion-tick-15-{tick}")
        drain(redis_client)
    assert not sim.repo(REPO).changes, "a prod PR before staging ever reported the digest"
    state, detail = status(redis_client, "staging")
    assert state == "waiting" and detail.startswith("agent report: staging"), detail
    assert status(redis_client, "prod")[0] == "pending"
    # the staging agent reports it ready: its soak runs, then prod gets exactly that digest
    report(web, "staging", "1.1.0", D1)
    soak()
    report(web, "staging", "1.1.0", D1)
    drain(redis_client)
    assert status(redis_client, "staging")[0] == "promoted"
    (pr,) = sim.repo(REPO).changes.values()
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "prod", pr.head)
