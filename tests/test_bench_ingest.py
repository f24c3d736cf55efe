"""bench/ingest.py sends distinct deliveries: none of its requests may be a duplicate of
another, or the receiver answers 200 "duplicate" and the ratio measures less than it says."""

from __future__ import annotations

import hashlib
import json

import pytest
import redis

from bench import ingest
from bumper import sources
from bumper.sources import Headers, Signed
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.skipif(
    not ingest.SHARED.is_dir(), reason=f"{ingest.SHARED} is absent (shared webhook fixtures)"
)


def _key(template: ingest.Template, n: int) -> str:
    head, tail = template.body_parts()
    body = head + str(n).encode() + tail if template.replace else head
    headers = Headers([*template.headers.items(), *template.sign(body).items()])
    if template.id_header:
        headers = Headers([*headers.items(), (template.id_header, f"bench-{n}")])
    sender = sources.SENDERS[template.sender]
    found = sender.parse(headers, body)
    assert found, f"{template.name}: no event parsed"
    return sender.key(headers, body, Signed(), sender.delivery_id(headers, body), found).key


@pytest.mark.parametrize("template", ingest.MIX, ids=lambda t: t.name)
def test_each_request_of_a_template_is_a_distinct_delivery(template: ingest.Template) -> None:
    keys = {_key(template, n) for n in (1100000001, 1100000002, 1200000001)}
    assert len(keys) == 3


def test_every_server_runs_in_every_position_over_the_rounds() -> None:
    targets = ["bare", "durable", "bumper"]
    orders = [ingest.round_order(targets, index) for index in range(6)]
    assert all(sorted(order) == sorted(targets) for order in orders)
    for position in range(3):
        assert {order[position] for order in orders} == set(targets)


def test_the_durable_floor_queues_a_delivery_once(
    redis_server: RedisServer, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    client = ingest.durable_app().test_client()
    first = client.post("/hooks/ghcr", data=b'{"n": 1}')
    again = client.post("/hooks/ghcr", data=b'{"n": 1}')
    other = client.post("/hooks/ghcr", data=b'{"n": 2}')
    assert (first.status_code, again.status_code, other.status_code) == (202, 200, 202)
    records = [json.loads(raw) for raw in redis_client.lrange(ingest.FLOOR_QUEUE, 0, -1)]
    assert [r["digest"] for r in records] == [
        hashlib.sha256(body).hexdigest() for body in (b'{"n": 1}', b'{"n": 2}')
    ]
