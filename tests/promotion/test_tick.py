"""The promotion tick (``evaluate_promotions`` with a tick id, scheduled by the worker): a soak
that runs out with no new report promotes on the tick (the last ready report is recent
enough, ``max_report_age``), and the tick schedules the next one. Real Redis, web app, worker
jobs and forge simulator."""

from __future__ import annotations

import redis
from flask.testing import FlaskClient
from rq.registry import ScheduledJobRegistry

from tests.promotion.harness import D1, IMAGE, QUEUE, drain, push, read, report, soak, statuses
from tests.support.forgesim import ForgeSim
from worker import jobs


def scheduled_ticks(client: redis.Redis) -> list[str]:
    registry = ScheduledJobRegistry(QUEUE, connection=client)  # type: ignore[no-untyped-call]
    return [j for j in registry.get_job_ids() if j.startswith(jobs.PROMOTION_JOB_PREFIX)]


def test_a_soak_that_ran_out_without_a_new_report_promotes_on_the_tick(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis
) -> None:
    jobs.handle_event(push("1.1.0", D1))
    drain(redis_client)
    report(web, "dev", "1.1.0", D1)  # the only report
    drain(redis_client)
    assert statuses(redis_client, D1)["staging"] == "waiting"
    soak()
    assert f"{IMAGE}:1.0.0\n" in read(sim, "staging")  # nothing happens by itself
    assert scheduled_ticks(redis_client) == []
    jobs.evaluate_promotions(f"{jobs.PROMOTION_JOB_PREFIX}15-1")
    drain(redis_client)
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "staging")
    assert statuses(redis_client, D1)["staging"] == "waiting"  # for the staging agent's report
    assert len(scheduled_ticks(redis_client)) == 1  # the next tick
