"""A push environment whose cluster cannot even be reached by a client (its kubeconfig gone,
or a worker outside a cluster without one) costs the promotion tick's re-check
(``worker.pushcheck``) that environment's observation only, as an unreachable API server does:
the tick still evaluates every pipeline. No cluster: the kubeconfig names a missing file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from tests.promotion.harness import (
    D1,
    drain,
    push_dev_block,
    report_body,
    staging_runs_the_baseline,
)
from tests.support.forgesim import ForgeSim
from worker import jobs
from worker.promotionstore import PromotionStore

NAME = "push-dev"


@pytest.fixture
def gates(tmp_path: Path) -> dict[str, str]:
    dev = push_dev_block(NAME, "push-dev", tmp_path / "no-such-kubeconfig")
    return {"dev_block": dev, "staging_gate": "{healthy_for: 1h}"}


def staging(client: redis.Redis) -> tuple[str, str]:
    record = PromotionStore(client).digests("api")[D1]
    found = next(s for s in record["statuses"] if s["environment"] == "staging")
    return str(found["state"]), str(found["detail"])


def test_an_unreadable_kubeconfig_does_not_stop_the_tick(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    staging_runs_the_baseline(web)
    # what the push deploy observed right after its rollout (pushdeploy.record_health)
    running = report_body("1.1.0", D1, agent=NAME)["running"]
    PromotionStore(redis_client).record_running(NAME, running, time.time())
    for n in (1, 2):  # the second tick re-checks dev: staging waits on its health
        jobs.evaluate_promotions(f"{jobs.PROMOTION_JOB_PREFIX}3600-{n}")
        drain(redis_client)
    state, detail = staging(redis_client)
    assert (state, detail.startswith("healthy_for 1h in dev")) == ("waiting", True)
