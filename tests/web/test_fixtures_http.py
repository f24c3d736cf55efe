"""Every shared webhook fixture through the full HTTP path: signed → 202 and its jobs in
Redis (or 200 "ignored" when the payload carries no event); forged → 403; unsigned → 401.

The expected events are the sources helper's hand-written ``CASES``; the signing is its
``SIGNERS`` (each sender's documented scheme). A sender without a signer yet is skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient
from rq.job import Job

from bumper.core import events
from bumper.web import intake
from tests.sources.helpers import fixture
from tests.sources.test_fixtures import CASES, Case
from tests.web.conftest import OTHER, QUEUE, SECRET, SIGNERS, signed

# Headers a fixture file may carry that a client library sets itself.
_TRANSPORT = {"host", "content-length", "connection"}


def _request(
    shared_dir: Path, case: Case, secret: str
) -> tuple[bytes, dict[str, str], dict[str, str]]:
    if case.sender not in SIGNERS:
        pytest.skip(f"no signer for {case.sender} yet in tests.sources.test_verify")
    file_headers, body = fixture(shared_dir, case.sender, case.file)
    base = {
        k: v for k, v in {**file_headers, **case.headers}.items() if k.lower() not in _TRANSPORT
    }
    headers, query = signed(case.sender, body, secret, headers=base)
    return body, headers, query


def _queued(client: redis.Redis) -> list[str]:
    return [raw.decode() for raw in client.lrange(intake.RQ_QUEUE_PREFIX + QUEUE, 0, -1)]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_signed_fixture_is_queued_as_its_events(
    shared_dir: Path, client: FlaskClient, redis_client: redis.Redis, case: Case
) -> None:
    body, headers, query = _request(shared_dir, case, SECRET)
    reply = client.post(f"/hooks/{case.sender}", data=body, headers=headers, query_string=query)
    if not case.expected:
        assert (reply.status_code, reply.json) == (
            200,
            {"status": "ignored", "reason": "no-events", "events": []},
        )
        assert _queued(redis_client) == []
        return
    assert reply.status_code == 202, reply.json
    assert reply.json is not None
    ids = reply.json["events"]
    assert len(ids) == len(case.expected)
    assert _queued(redis_client) == ids
    for job_id, expected in zip(ids, case.expected, strict=True):
        job = Job.fetch(job_id, connection=redis_client)
        assert job.func_name == "worker.jobs.handle_event"
        assert job.origin == QUEUE
        (data,) = job.args
        queued = events.from_dict(data)
        assert queued.delivery_id == reply.json["delivery_id"]
        assert queued.received_at > 0
        assert events.stamp(expected, source=case.sender, delivery_id="", received_at=0) == (
            events.stamp(queued, source=queued.source, delivery_id="", received_at=0)
        )


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_forged_fixture_is_refused_and_not_queued(
    shared_dir: Path, client: FlaskClient, redis_client: redis.Redis, case: Case
) -> None:
    body, headers, query = _request(shared_dir, case, OTHER)
    reply = client.post(f"/hooks/{case.sender}", data=body, headers=headers, query_string=query)
    assert reply.status_code == 403
    assert reply.json is not None and set(reply.json) == {"error", "message"}
    assert SECRET not in reply.get_data(as_text=True)
    assert OTHER not in reply.get_data(as_text=True)
    assert _queued(redis_client) == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_unsigned_fixture_is_refused_with_401(
    shared_dir: Path, client: FlaskClient, redis_client: redis.Redis, case: Case
) -> None:
    if case.sender not in SIGNERS:
        pytest.skip(f"no signer for {case.sender} yet in tests.sources.test_verify")
    file_headers, body = fixture(shared_dir, case.sender, case.file)
    # Drop whatever credential the vendor example shows (e.g. a placeholder Authorization).
    headers = {
        k: v
        for k, v in {**file_headers, **case.headers}.items()
        if k.lower() not in _TRANSPORT and k.lower() != "authorization"
    }
    headers["Content-Type"] = "application/json"
    reply = client.post(f"/hooks/{case.sender}", data=body, headers=headers)
    assert reply.status_code == 401, reply.json
    assert _queued(redis_client) == []
