"""Push mode's health evidence: after a push deploy, what runs (``Deployment.running``, as
``bumper.agent.running`` observes it) counts for promotion under the deployer's name, as an
agent's report does. The cluster part (a real rollout whose pods carry an ``imageID``) needs
the test bed's real node; here the deploy's outcome is given, everything after it is real
(Redis, the promotion engine, the forge simulator)."""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient

from tests.promotion.harness import (
    D1,
    IMAGE,
    drain,
    read,
    soak,
    staging_runs_the_baseline,
    statuses,
)
from tests.support.forgesim import ForgeSim
from worker import context, jobs, pushdeploy
from worker.promotionstore import PromotionStore
from worker.records import Deployment

PUSHED = """\
        agent: push-dev
        targets:
          - repo: cfg
            paths: ["overlays/dev/**"]
            mode: commit
            deploy: push
            cluster: {name: push-dev, namespace: dev}
"""


@pytest.fixture
def gates() -> dict[str, str]:
    return {"dev_block": PUSHED}


def running(ready: bool) -> list[dict[str, object]]:
    entry = {
        "namespace": "dev", "kind": "Deployment", "name": "api", "container": "api",
        "repository": IMAGE, "tag": "1.1.0", "digest": D1, "ready": ready, "commit": "c" * 40,
    }  # fmt: skip
    return [entry]


def deployed(ready: bool = True, observed: bool = True) -> Deployment:
    done = Deployment("api.dev/0", "c" * 40, "healthy" if ready else "rolled-back", "")
    done.running = running(ready) if observed else []
    return done


def test_a_push_deploy_s_running_counts_as_evidence_under_the_deployer_name(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    staging_runs_the_baseline(web)
    ctx = context.current()
    pushdeploy.record_health(ctx, "push-dev", deployed())
    evidence = PromotionStore(redis_client).evidence("push-dev")[f"{IMAGE}@{D1}"]
    assert evidence["ready_since"] is not None and evidence["tag"] == "1.1.0"
    jobs.evaluate_promotions("report-push-dev")
    assert statuses(redis_client, D1)["dev"] == "promoted"
    soak()
    pushdeploy.record_health(ctx, "push-dev", deployed())  # the next deploy: still ready
    jobs.evaluate_promotions("report-push-dev")
    drain(redis_client)
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "staging")


def test_nothing_observed_is_no_evidence_either_way(
    sim: ForgeSim, redis_client: redis.Redis
) -> None:
    ctx = context.current()
    pushdeploy.record_health(ctx, "push-dev", deployed())
    pushdeploy.record_health(ctx, "push-dev", deployed(observed=False))  # cluster unreadable
    evidence = PromotionStore(redis_client).evidence("push-dev")[f"{IMAGE}@{D1}"]
    assert evidence["ready_since"] is not None  # the run is not broken by a failed read
    pushdeploy.record_health(ctx, "push-dev", deployed(ready=False))
    assert PromotionStore(redis_client).evidence("push-dev")[f"{IMAGE}@{D1}"]["ready_since"] is None
