"""Every shared webhook fixture through the full HTTP path, under every authentication scheme
its sender supports: signed → 202 with its jobs in Redis (or 200 "ignored" when the payload
carries no event); signed with another secret → 403; no credentials → 401. Nothing is queued
unless the reply is 202.

The expected events are the sources helper's hand-written ``CASES``
(tests/sources/test_fixtures.py); the signing is its ``SCHEMES`` (tests/sources/test_verify.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import redis
from flask.testing import FlaskClient

from bumper import rqjobs, sources
from bumper.core import events
from bumper.core.events import BuildFinished
from bumper.web import hooks, intake
from tests.sources.helpers import fixture
from tests.sources.test_fixtures import CASES, Case
from tests.web.conftest import QUEUE, REGISTRY_HEADER, SCHEMES, receiver_name, signed

# Headers a fixture file may carry that the HTTP client sets itself.
_TRANSPORT = {"host", "content-length", "connection"}
_CREDENTIAL = ("authorization", "signature", "token", "auth")

PAIRS = [
    pytest.param(case, scheme_id, id=f"{case.id}[{scheme_id}]")
    for case in CASES
    for scheme_id, scheme in SCHEMES.items()
    if scheme.sender == case.sender
]


def _url(case: Case, scheme_id: str) -> str:
    return "/hooks/" + receiver_name(scheme_id, case.headers.get(REGISTRY_HEADER))


def _base_headers(shared_dir: Path, case: Case) -> tuple[bytes, dict[str, str]]:
    file_headers, body = fixture(shared_dir, case.sender, case.file)
    merged = {**file_headers, **case.headers}
    # Drop transport headers and the credentials the vendor example shows (illustrative values
    # that do not match these bodies); each test adds its own, or none.
    kept = {
        k: v
        for k, v in merged.items()
        if k.lower() not in _TRANSPORT and not any(c in k.lower() for c in _CREDENTIAL)
    }
    return body, kept


def _queued(client: redis.Redis) -> list[str]:
    raw = cast(list[bytes], client.lrange(intake.RQ_QUEUE_PREFIX + QUEUE, 0, -1))
    return [item.decode() for item in raw]


def test_every_case_is_sent_under_at_least_one_scheme() -> None:
    assert {case.sender for case in CASES} <= {scheme.sender for scheme in SCHEMES.values()}
    assert {case.sender for case in CASES} == set(sources.SENDERS)


@pytest.mark.parametrize(("case", "scheme_id"), PAIRS)
def test_signed_fixture_is_queued_as_its_events(
    shared_dir: Path, client: FlaskClient, redis_client: redis.Redis, case: Case, scheme_id: str
) -> None:
    body, base = _base_headers(shared_dir, case)
    headers, query = signed(scheme_id, body, headers=base)
    reply = client.post(_url(case, scheme_id), data=body, headers=headers, query_string=query)
    # A build that names no repository is outside every receiver's scope (docs/senders.md).
    expected = [e for e in case.expected if not isinstance(e, BuildFinished) or e.repository]
    if not expected:
        reason = "out-of-scope" if case.expected else "no-events"
        assert (reply.status_code, reply.json) == (
            200,
            {"status": "ignored", "reason": reason, "events": []},
        )
        assert _queued(redis_client) == []
        return
    assert reply.status_code == 202, reply.json
    assert reply.json is not None
    ids = reply.json["events"]
    assert len(ids) == len(expected)
    assert _queued(redis_client) == ids
    for job_id, expected_event in zip(ids, expected, strict=True):
        job = rqjobs.BumperJob.fetch(job_id, connection=redis_client)
        assert job.func_name == "worker.jobs.handle_event"
        assert job.origin == QUEUE
        (data,) = job.args
        queued = events.from_dict(data)
        assert queued.source == case.sender
        assert queued.delivery_id == reply.json["delivery_id"]
        assert queued.received_at > 0
        unstamped = events.stamp(
            queued, source=expected_event.source, delivery_id="", received_at=0
        )
        assert unstamped == expected_event


@pytest.mark.parametrize(("case", "scheme_id"), PAIRS)
def test_forged_fixture_is_refused_and_not_queued(
    shared_dir: Path, client: FlaskClient, redis_client: redis.Redis, case: Case, scheme_id: str
) -> None:
    scheme = SCHEMES[scheme_id]
    body, base = _base_headers(shared_dir, case)
    headers, query = signed(scheme_id, body, scheme.other, headers=base)
    reply = client.post(_url(case, scheme_id), data=body, headers=headers, query_string=query)
    assert reply.status_code == 403, reply.json
    assert reply.json is not None and set(reply.json) == {"error", "message"}
    text = reply.get_data(as_text=True)
    assert scheme.secret not in text and scheme.other not in text
    assert _queued(redis_client) == []


@pytest.mark.parametrize(("case", "scheme_id"), PAIRS)
def test_unsigned_fixture_is_refused_with_401(
    shared_dir: Path, client: FlaskClient, redis_client: redis.Redis, case: Case, scheme_id: str
) -> None:
    body, headers = _base_headers(shared_dir, case)
    headers["Content-Type"] = "application/json"
    reply = client.post(_url(case, scheme_id), data=body, headers=headers)
    assert reply.status_code == 401, reply.json
    assert _queued(redis_client) == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_fast_event_dict_equals_to_dict_of_stamp(case: Case) -> None:
    stamp: dict[str, Any] = {"source": case.sender, "delivery_id": "d-1", "received_at": 12.5}
    for event in case.expected:
        assert hooks.event_dict(event, stamp) == events.to_dict(events.stamp(event, **stamp))
