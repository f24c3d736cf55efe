"""``approval: pr``: the promotion PR waits for a human; once the forge (the simulator's
GitHub) says it was merged, the environment is promoted by the merge; closed unmerged, it is
blocked with the reason. Real Redis, web app, worker jobs and forge simulator."""

from __future__ import annotations

import pytest
import redis
import requests
from flask.testing import FlaskClient

from tests.promotion.harness import D1, IMAGE, REPO, drain, push, read, report, soak
from tests.support.forgesim import ForgeSim
from worker import jobs
from worker.promotionstore import PromotionStore


@pytest.fixture
def gates() -> dict[str, str]:
    return {"prod_gate": "{approval: pr}"}


def prod_status(client: redis.Redis) -> dict[str, object]:
    record = PromotionStore(client).digests("api")[D1]
    return next(s for s in record["statuses"] if s["environment"] == "prod")


def to_prod_pr(sim: ForgeSim, web: FlaskClient, client: redis.Redis) -> int:
    jobs.handle_event(push("1.1.0", D1))
    drain(client)
    report(web, "dev", "1.1.0", D1)
    soak()
    report(web, "dev", "1.1.0", D1)
    drain(client)  # staging by commit
    jobs.evaluate_promotions("report-test")
    drain(client)
    assert not sim.repo(REPO).changes  # prod follows staging's health, not its commit
    report(web, "staging", "1.1.0", D1)  # staging is in, ready: prod's PR
    drain(client)
    (pr,) = sim.repo(REPO).changes.values()
    jobs.evaluate_promotions("report-test")
    assert prod_status(client)["state"] == "waiting"
    detail = str(prod_status(client)["detail"])
    assert detail.startswith(f"approval: merge {sim.url}/") and detail.endswith(f"/{pr.number}")
    return pr.number


def human(sim: ForgeSim, method: str, path: str, body: dict[str, object]) -> None:
    url = f"{sim.github_api_url}/repos/{REPO}/pulls/{path}"
    headers = {"Authorization": f"token {sim.token}"}
    reply = requests.request(method, url, json=body, headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text


def test_a_merged_prod_pr_promotes_prod(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    number = to_prod_pr(sim, web, redis_client)
    human(sim, "PUT", f"{number}/merge", {})
    jobs.evaluate_promotions("promotion-tick-15-1")  # the tick notices the merge
    status = prod_status(redis_client)
    assert status["state"] == "promoted", status
    assert str(status["detail"]).startswith("merged ") and str(number) in str(status["detail"])
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "prod")


def test_a_prod_pr_closed_unmerged_blocks_prod_with_the_reason(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    number = to_prod_pr(sim, web, redis_client)
    human(sim, "PATCH", str(number), {"state": "closed"})
    jobs.evaluate_promotions("report-test")
    status = prod_status(redis_client)
    assert status["state"] == "blocked"
    assert str(status["detail"]).endswith("closed without merging")
    assert f"{IMAGE}:1.0.0\n" in read(sim, "prod")
