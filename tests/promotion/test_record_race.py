"""An evaluation and a bump job writing one digest's promotion record at once each keep their
fields (``PromotionStore.save_digests`` and ``update_entered`` merge into the record as stored,
redone when it changed meanwhile): the bump job's change link and the evaluation's statuses
both survive, whichever writes last. Real Redis, web app, worker jobs and forge simulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from tests.promotion.harness import D1, drain, push, report, soak
from tests.support.forgesim import ForgeSim
from worker import context, jobs, promotion, promotionstore
from worker.promotionstore import PromotionStore

LINK = "c0ffee" * 6 + "c0ff"  # the staging commit the bump job made


def promoted_into_staging(web: FlaskClient, client: redis.Redis) -> list[str]:
    """D1 soaked in dev and an evaluation promoted it into staging (``entered`` "queued"); its
    bump job has not run yet. The bumps requested."""
    jobs.handle_event(push("1.1.0", D1))
    drain(client)
    report(web, "dev", "1.1.0", D1)
    soak()
    report(web, "dev", "1.1.0", D1)  # its evaluation job stays queued: evaluated here instead
    requested: list[str] = []
    assert promotion.evaluate(context.current(), _request(requested)) == 1
    assert PromotionStore(client).digests("api")[D1]["entered"]["staging"]["change"] == "queued"
    return requested


def _request(requested: list[str]) -> promotion.RequestBump:
    def request(key: str) -> str:
        requested.append(key)
        return key

    return request


def after_first_read(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, other_writer: Callable[[], object]
) -> list[bool]:
    """Wrap the reader ``module.name`` so that ``other_writer`` runs right after its first
    call (between a writer's read and its write); the list holds True once it has run."""
    read = getattr(module, name)
    interleaved: list[bool] = []

    def read_then_interleave(*args: Any) -> Any:
        found = read(*args)
        if not interleaved:
            interleaved.append(True)
            other_writer()
        return found

    monkeypatch.setattr(module, name, read_then_interleave)
    return interleaved


def staging(client: redis.Redis) -> dict[str, Any]:
    record = PromotionStore(client).digests("api")[D1]
    return next(s for s in record["statuses"] if s["environment"] == "staging")


def test_a_change_entered_during_an_evaluation_survives_its_write(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    requested = promoted_into_staging(web, redis_client)
    interleaved = after_first_read(
        monkeypatch,
        promotion,
        "digests",  # between the evaluation's read and its write, the bump job's enter
        lambda: PromotionStore(redis_client).enter("api", D1, "staging", LINK, time.time()),
    )
    now = time.time() + 1
    promotion.evaluate(context.current(), _request(requested), now=now)

    assert interleaved
    record = PromotionStore(redis_client).digests("api")[D1]
    assert record["entered"]["staging"]["change"] == LINK  # the bump job's
    assert record["evaluated_at"] == now  # the evaluation's
    promotion.evaluate(context.current(), _request(requested))  # the next one (reads it all)
    assert staging(redis_client)["detail"].endswith(f"({LINK})")  # the dashboard link
    assert len(requested) == 1  # promoted once


def test_statuses_written_during_an_enter_survive_its_write(
    sim: ForgeSim, web: FlaskClient, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    requested = promoted_into_staging(web, redis_client)
    evaluated_at = time.time() + 1
    interleaved = after_first_read(
        monkeypatch,
        promotionstore,
        "_clean",  # between the bump job's read and its write, an evaluation's
        lambda: promotion.evaluate(context.current(), _request(requested), now=evaluated_at),
    )
    PromotionStore(redis_client).enter("api", D1, "staging", LINK, time.time())

    assert interleaved
    record = PromotionStore(redis_client).digests("api")[D1]
    assert record["entered"]["staging"]["change"] == LINK  # the bump job's
    assert record["evaluated_at"] == evaluated_at  # the evaluation's
    assert len(requested) == 1


def test_a_record_made_by_a_bump_job_keeps_its_earlier_first_seen(
    redis_client: redis.Redis,
) -> None:
    """The evaluation saw no record (so first seen "now"); a bump job made one meanwhile."""
    store = PromotionStore(redis_client)
    store.enter("api", D1, "staging", LINK, 1000.0)
    store.save_digests("api", {D1: {"tag": "1.1.0", "first_seen": 1005.0, "evaluated_at": 1005.0}})
    record = store.digests("api")[D1]
    assert record["first_seen"] == 1000.0
    assert record["evaluated_at"] == 1005.0 and record["entered"]["staging"]["change"] == LINK
