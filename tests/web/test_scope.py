"""Receivers are scoped (issue 13, item 2): a verified delivery may only speak for the images
and repositories its receiver is configured for, and a payload never replaces the receiver's
configured registry. Real vendor payloads (../shared), signed as the vendor signs them, through
the full intake path into a real Redis.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from bumper import rqjobs
from bumper.errors import ConfigError
from bumper.settings import Settings
from bumper.web import create_app, intake, recent
from tests.sources.helpers import fixture
from tests.web.conftest import QUEUE, SCHEMES, config_for, signed

OURS = "localhost"  # the Harbor host of the vendor's examples (resource_url localhost/...)
JFROG_HOST = "acme.jfrog.io"


def _entry(tmp_path: Path, name: str, scheme_id: str, **more: Any) -> dict[str, Any]:
    scheme = SCHEMES[scheme_id]
    secret = tmp_path / f"secret-{name}"
    secret.write_text(scheme.secret + "\n")
    return {"name": name, "type": scheme.sender, "secret": {"file": str(secret)}, **more}


@pytest.fixture
def app(settings: Settings, tmp_path: Path, redis_client: redis.Redis) -> Flask:
    # Only keys that exist before scoping (registry), so the first tests run on main too.
    receivers = [
        _entry(tmp_path, "harbor", "harbor", registry=OURS),
        _entry(tmp_path, "jfrog", "jfrog", registry=JFROG_HOST),
    ]
    return create_app(settings, config_for(receivers))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _post(
    client: FlaskClient, receiver: str, scheme_id: str, body: bytes, **headers: str
) -> tuple[int, dict[str, Any]]:
    sent, query = signed(scheme_id, body, headers=headers)
    reply = client.post(f"/hooks/{receiver}", data=body, headers=sent, query_string=query)
    assert reply.is_json, reply.data
    return reply.status_code, reply.json or {}


def _queued(client: redis.Redis) -> list[dict[str, Any]]:
    raw = cast(list[bytes], client.lrange(intake.RQ_QUEUE_PREFIX + QUEUE, 0, -1))
    return [rqjobs.BumperJob.fetch(i.decode(), connection=client).args[0] for i in raw]


def _dropped(app: Flask, receiver: str) -> float:
    metrics = app.extensions["bumper"].metrics
    labels = {"receiver": receiver, "reason": "out-of-scope"}
    value = metrics.registry.get_sample_value("bumper_webhook_events_dropped_total", labels)
    return float(value or 0.0)


def _harbor_push(shared_dir: Path, *urls: str) -> bytes:
    """The vendor's Harbor CloudEvents push, with one resource per ``resource_url``."""
    event = json.loads(fixture(shared_dir, "harbor", "PUSH_ARTIFACT.cloudevents.json")[1])
    (resource,) = event["data"]["resources"]
    event["data"]["resources"] = [{**copy.deepcopy(resource), "resource_url": u} for u in urls]
    return json.dumps(event).encode()


def _cloudevent_headers() -> dict[str, str]:
    return {"Content-Type": "application/cloudevents+json"}


def test_a_harbor_receiver_drops_a_ghcr_image(
    shared_dir: Path, app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = _harbor_push(shared_dir, "ghcr.io/acme/api:1.2.3")
    status, reply = _post(client, "harbor", "harbor", body, **_cloudevent_headers())
    assert (status, reply) == (200, {"status": "ignored", "reason": "out-of-scope", "events": []})
    assert _queued(redis_client) == []
    assert _dropped(app, "harbor") == 1
    (entry,) = recent.read(redis_client, 10)
    assert (entry["receiver"], entry["status"], entry["result"]) == ("harbor", 200, "out-of-scope")


def test_a_harbor_receiver_still_queues_its_own_images(
    shared_dir: Path, app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = fixture(shared_dir, "harbor", "PUSH_ARTIFACT.cloudevents.json")[1]
    status, reply = _post(client, "harbor", "harbor", body, **_cloudevent_headers())
    assert status == 202, reply
    assert [event["image"] for event in _queued(redis_client)] == ["localhost/harbor/alpine"]
    assert _dropped(app, "harbor") == 0


def test_only_the_events_in_scope_of_a_mixed_delivery_are_queued(
    shared_dir: Path, app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    urls = ("localhost/harbor/alpine:3.9", "ghcr.io/acme/api:1.2.3", "localhost.evil.io/x:1")
    status, reply = _post(
        client, "harbor", "harbor", _harbor_push(shared_dir, *urls), **_cloudevent_headers()
    )
    assert status == 202 and len(reply["events"]) == 1, reply
    assert [event["image"] for event in _queued(redis_client)] == ["localhost/harbor/alpine"]
    assert _dropped(app, "harbor") == 2


def _jfrog_envelope(shared_dir: Path, origin: str) -> bytes:
    """The vendor's Docker push, in the platform envelope with a ``jpd_origin`` of our choice."""
    data = json.loads(fixture(shared_dir, "jfrog", "docker.pushed.multi-arch.json")[1])
    envelope = json.loads(fixture(shared_dir, "jfrog", "artifact.deployed.json")[1])
    envelope.update(domain="docker", event_type="pushed", data=data, jpd_origin=origin)
    return json.dumps(envelope).encode()


def test_jfrog_jpd_origin_cannot_redirect_the_configured_registry(
    shared_dir: Path, client: FlaskClient, redis_client: redis.Redis
) -> None:
    body = _jfrog_envelope(shared_dir, "https://evil.example")
    status, reply = _post(client, "jfrog", "jfrog", body)
    assert status == 202, reply
    images = [event["image"] for event in _queued(redis_client)]
    assert images == [f"{JFROG_HOST}/docker-remote-cache/library/ubuntu"]


def test_without_a_registry_jpd_origin_is_held_to_the_scope(
    shared_dir: Path, settings: Settings, tmp_path: Path, redis_client: redis.Redis
) -> None:
    scope = {"images": [f"{JFROG_HOST}/docker-remote-cache"]}
    app = create_app(settings, config_for([_entry(tmp_path, "jf", "jfrog", scope=scope)]))
    client = app.test_client()
    evil = _jfrog_envelope(shared_dir, "https://evil.example")
    assert _post(client, "jf", "jfrog", evil)[1]["reason"] == "out-of-scope"
    ours = _jfrog_envelope(shared_dir, f"https://{JFROG_HOST}")
    assert _post(client, "jf", "jfrog", ours)[0] == 202
    assert [e["image"] for e in _queued(redis_client)] == [
        f"{JFROG_HOST}/docker-remote-cache/library/ubuntu"
    ]


def test_ci_builds_are_scoped_to_the_receivers_repositories(
    shared_dir: Path, settings: Settings, tmp_path: Path, redis_client: redis.Redis
) -> None:
    receivers = [
        _entry(tmp_path, "ci-other", "github"),  # default: no repository
        _entry(tmp_path, "ci-near", "github", scope={"repos": ["octo-org/octo"]}),
        _entry(tmp_path, "ci-ours", "github", scope={"repos": ["Octo-Org"]}),
    ]
    client = create_app(settings, config_for(receivers)).test_client()
    body = fixture(shared_dir, "github", "workflow_run.completed.success.json")[1]
    headers = {"X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "d-1"}
    for receiver in ("ci-other", "ci-near"):
        assert _post(client, receiver, "github", body, **headers)[1]["reason"] == "out-of-scope"
    assert _queued(redis_client) == []
    status, reply = _post(client, "ci-ours", "github", body, **headers)
    assert status == 202, reply
    assert [e["repository"] for e in _queued(redis_client)] == ["octo-org/octo-repo"]


def test_a_receiver_that_cannot_know_its_images_refuses_to_start(
    settings: Settings, tmp_path: Path
) -> None:
    config = config_for([_entry(tmp_path, "hub", "harbor")])
    with pytest.raises(ConfigError, match=r"receivers\[0\]: receiver 'hub'.*set registry"):
        create_app(settings, config)
    opted_out = config_for([_entry(tmp_path, "hub", "harbor", scope={"images": []})])
    assert create_app(settings, opted_out).test_client().get("/healthz").status_code == 200


def _harbor_chart_upload(host: str) -> bytes:
    """Bumper's own Harbor UPLOAD_CHART fixture (tests/sources/fixtures), from ``host``."""
    path = (
        Path(__file__).parents[1] / "sources" / "fixtures" / "harbor" / "UPLOAD_CHART.default.json"
    )
    return path.read_bytes().replace(b"harbor.example.com", host.encode())


def test_a_harbor_chart_upload_is_queued_as_a_chart_event_of_its_own_host_only(
    app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    status, reply = _post(client, "harbor", "harbor", _harbor_chart_upload(OURS))
    assert status == 202, reply
    [event] = _queued(redis_client)
    assert (event["image"], event["tag"], event["artifact"]) == (
        f"https://{OURS}/chartrepo/platform/podinfo",
        "6.5.4",
        "chart",
    )
    status, reply = _post(client, "harbor", "harbor", _harbor_chart_upload("localhost.evil.io"))
    assert (status, reply["reason"]) == (200, "out-of-scope")
    assert len(_queued(redis_client)) == 1
