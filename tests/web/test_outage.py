"""Redis stopped in the middle of a stream of deliveries: 503 + Retry-After while it is down,
no dedup mark left behind, and after the restart every delivery ends up queued exactly once.
The Redis under test runs with ``appendonly yes`` / ``appendfsync always``, so the jobs
accepted before the stop are still there after the restart."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import redis
from flask.testing import FlaskClient

from bumper import rqjobs
from bumper.web import intake
from tests.sources.helpers import fixture
from tests.support.redis_server import RedisServer
from tests.web.conftest import QUEUE, signed, start_redis, wait_until_ready


def test_outage_then_restart_loses_nothing(
    shared_dir: Path,
    client: FlaskClient,
    redis_client: redis.Redis,
    redis_server: RedisServer,
) -> None:
    body = fixture(shared_dir, "github", "package.published.docker.json")[1]

    def deliver(n: int) -> tuple[int, list[str], str | None]:
        # Thirty distinct deliveries: a signed body is deduplicated on its hash.
        distinct = body + b" " * n
        headers, _ = signed(
            "github", distinct, headers={"X-GitHub-Event": "package", "X-GitHub-Delivery": f"d-{n}"}
        )
        reply = client.post("/hooks/github", data=distinct, headers=headers)
        payload = reply.json or {}
        return reply.status_code, list(payload.get("events", [])), reply.headers.get("Retry-After")

    accepted: dict[int, list[str]] = {}
    refused: list[int] = []
    try:
        for n in range(30):
            if n == 10:
                redis_server.stop()
            if n == 20:
                start_redis(redis_server)
                wait_until_ready(lambda: client.get("/readyz").status_code)
            status, ids, retry_after = deliver(n)
            if status == 202:
                accepted[n] = ids
            else:
                assert (status, retry_after) == (503, "7")
                refused.append(n)
    finally:
        if redis_server.process is None:
            start_redis(redis_server)
            wait_until_ready(lambda: client.get("/readyz").status_code)
    assert refused == list(range(10, 20))
    assert sorted(accepted) == [*range(10), *range(20, 30)]
    # The sender retries what was refused: accepted now, not "duplicate".
    for n in refused:
        status, ids, _ = deliver(n)
        assert status == 202
        accepted[n] = ids
    # Every 202 has its job in Redis, exactly once, including those from before the restart.
    raw_queue = cast(list[bytes], redis_client.lrange(intake.RQ_QUEUE_PREFIX + QUEUE, 0, -1))
    in_queue = [raw.decode() for raw in raw_queue]
    promised = [job_id for n in sorted(accepted) for job_id in accepted[n]]
    assert sorted(in_queue) == sorted(promised) and len(set(promised)) == 30
    for job_id in promised:
        assert (
            rqjobs.BumperJob.fetch(job_id, connection=redis_client).args[0]["type"]
            == "image.pushed"
        )
