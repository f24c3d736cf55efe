"""A CI gate on a later environment (``gate: {ci: github, workflow: e2e}`` on staging): the
digest waits in staging, with the gate named, until a CI completion event for the image's
source revision (the push event's) arrives; a failure blocks it; another revision's success
does not count. The CI event's own job evaluates the pipelines (no tick needed). Real Redis,
web app, worker jobs and forge simulator."""

from __future__ import annotations

import pytest
import redis
from flask.testing import FlaskClient

from bumper.core import events
from tests.promotion.harness import D1, IMAGE, drain, push, read, report
from tests.support.forgesim import ForgeSim
from worker import jobs
from worker.promotionstore import PromotionStore

REVISION = "a1b2c3d4" * 5
OTHER = "f" * 40


@pytest.fixture
def gates() -> dict[str, str]:
    return {"staging_gate": "{ci: github, workflow: e2e}"}


def staging(client: redis.Redis) -> dict[str, object]:
    record = PromotionStore(client).digests("api")[D1]
    return next(s for s in record["statuses"] if s["environment"] == "staging")


def ci(status: events.BuildStatus, commit: str, pipeline: str = "e2e") -> None:
    build = events.BuildFinished(
        status=status, commit=commit, ref="refs/heads/main", repository="acme/api",
        pipeline=pipeline, source="github", delivery_id=f"ci-{commit[:6]}-{status}",
    )  # fmt: skip
    jobs.handle_event(events.to_dict(build))


def in_dev(web: FlaskClient, client: redis.Redis) -> None:
    jobs.handle_event(push("1.1.0", D1, revision=REVISION))
    drain(client)
    report(web, "dev", "1.1.0", D1)
    drain(client)


def test_staging_waits_for_ci_of_the_source_revision_then_proceeds(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    in_dev(web, redis_client)
    assert (staging(redis_client)["state"], staging(redis_client)["detail"]) == (
        "waiting",
        "CI github/e2e to succeed",
    )
    ci("success", OTHER)  # another revision's run
    ci("success", REVISION, pipeline="lint")  # another workflow
    jobs.evaluate_promotions("report-test")
    drain(redis_client)
    assert staging(redis_client)["state"] == "waiting"
    assert f"{IMAGE}:1.0.0\n" in read(sim, "staging")
    ci("success", REVISION)  # evaluated at once, no tick needed
    drain(redis_client)
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "staging")
    assert staging(redis_client)["state"] == "waiting"  # for the staging agent's report
    report(web, "staging", "1.1.0", D1)
    drain(redis_client)
    assert staging(redis_client)["state"] == "promoted"


def test_a_failed_ci_run_blocks_staging_with_the_gate_named(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    in_dev(web, redis_client)
    ci("failure", REVISION)
    drain(redis_client)
    assert (staging(redis_client)["state"], staging(redis_client)["detail"]) == (
        "blocked",
        "CI github/e2e: failure",
    )
    assert f"{IMAGE}:1.0.0\n" in read(sim, "staging")
