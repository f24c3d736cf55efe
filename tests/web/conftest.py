"""Fixtures for the web tests: a flushed real Redis, a secret file, an app with one receiver
per sender (named after it), and helpers to sign a request the way each sender does."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from bumper.core.config import BumperConfig
from bumper.core.events import BuildFinished, ImageEvent
from bumper.settings import Settings, WebSettings
from bumper.web import create_app, listeners
from tests.sources import test_verify
from tests.sources.test_fixtures import CASES
from tests.support.redis_server import RedisServer

# Every authentication scheme of every sender, with its secret spelling and signer, as the
# sources helper wrote them from the vendors' docs (tests/sources/test_verify.py).
SCHEMES: dict[str, test_verify.Scheme] = {scheme.id: scheme for scheme in test_verify.SCHEMES}
SECRET = test_verify.TOKEN
OTHER = test_verify.OTHER_TOKEN
QUEUE = "bumper-test"
REGISTRY_HEADER = "X-Bumper-Registry"
# Registry hosts some fixture cases need (senders whose payloads do not name it). Over HTTP the
# header is set from the receiver's ``registry`` (a sender cannot send it), so each needs its
# own receiver.
REGISTRIES = sorted({c.headers[REGISTRY_HEADER] for c in CASES if REGISTRY_HEADER in c.headers})


def receiver_name(scheme_id: str, registry: str | None = None) -> str:
    """The receiver the app fixture configures for a scheme (and registry host)."""
    return scheme_id if registry is None else f"{scheme_id}-r{REGISTRIES.index(registry)}"


def fixture_scope(sender: str) -> dict[str, list[str]]:
    """A scope covering every event of the sender's fixture cases: the vendors' examples name
    hosts (``localhost``, ``myregistry.azurecr.io``...) that no single default covers."""
    # A CloudEvents receiver also relays the CloudEvents of Harbor and CDEvents senders.
    relayed = {"cloudevents": {"cloudevents", "harbor", "cdevents"}}.get(sender, {sender})
    found = [event for case in CASES if case.sender in relayed for event in case.expected]
    images = {e.image.partition("/")[0] for e in found if isinstance(e, ImageEvent)}
    repos = {e.repository for e in found if isinstance(e, BuildFinished) and e.repository}
    return {"images": sorted(images), "repos": sorted(repos)}


def config_for(receivers: list[dict[str, Any]]) -> BumperConfig:
    return BumperConfig.model_validate({"apiVersion": "bumper/v1", "receivers": receivers})


def receiver_entry(name: str, sender: str, secret_file: Path, **more: Any) -> dict[str, Any]:
    """A receiver whose scope covers its sender's fixtures, unless ``more`` names one."""
    entry = {"name": name, "type": sender, "secret": {"file": str(secret_file)}, **more}
    if "scope" not in more and "registry" not in more:
        entry["scope"] = fixture_scope(sender)
    return entry


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "webhook-secret"
    path.write_text(SECRET + "\n")
    return path


@pytest.fixture
def settings(redis_server: RedisServer) -> Settings:
    web = WebSettings(retry_after_seconds=7, redis_timeout_seconds=0.5, recent_deliveries=50)
    return Settings(redis_url=redis_server.url, queue_name=QUEUE, web=web)


@pytest.fixture
def app(settings: Settings, secret_file: Path, tmp_path: Path, redis_client: redis.Redis) -> Flask:
    """Receivers: one per scheme (named by its id, scoped to its sender's fixtures), plus
    ``github``/``dockerhub`` shorthands."""
    entries = []
    for scheme in SCHEMES.values():
        path = tmp_path / f"secret-{scheme.id}"
        path.write_text(scheme.secret + "\n")
        scope = fixture_scope(scheme.sender)
        entries.append(receiver_entry(scheme.id, scheme.sender, path, scope=scope))
        for registry in REGISTRIES:
            name = receiver_name(scheme.id, registry)
            entries.append(
                receiver_entry(name, scheme.sender, path, registry=registry, scope=scope)
            )
    entries.append(receiver_entry("dockerhub", "dockerhub", secret_file))
    builds_only = {"repos": fixture_scope("github")["repos"]}
    entries.append(
        receiver_entry(
            "builds-only", "github", secret_file, events=["build.finished"], scope=builds_only
        )
    )
    entries.append(receiver_entry("tiny", "github", secret_file, max_body_bytes=64))
    return create_app(settings, config_for(entries))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The public listener: webhooks and the bare probes."""
    return app.test_client()


@pytest.fixture
def ops_client(app: Flask) -> FlaskClient:
    """The operations listener: dashboard, ``/metrics``, detailed ``/readyz``."""
    return listeners.ops_app(app).test_client()


def signed(
    scheme_id: str,
    body: bytes,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query) of a request signed with a scheme (by default with its own secret,
    e.g. ``SECRET`` for ``github``); a URL token goes to ``?token=``."""
    scheme = SCHEMES[scheme_id]
    out = {"Content-Type": "application/json", **(headers or {})}
    query: dict[str, str] = {}
    for name, value in scheme.sign(body, scheme.secret if secret is None else secret).items():
        if name.lower() == "x-bumper-url-token":
            query["token"] = value
        else:
            out[name] = value
    return out, query


def wait_until_ready(readyz: Callable[[], int], timeout: float = 60.0) -> None:
    """Poll a ``/readyz`` call until it answers 200: after a restart Redis first loads its AOF
    (answering ``LOADING``, so deliveries get 503), as a sender's retry would find out."""
    deadline = time.monotonic() + timeout
    while readyz() != 200:
        if time.monotonic() > deadline:
            raise AssertionError("/readyz did not become ready")
        time.sleep(0.05)


def start_redis(server: RedisServer, timeout: float = 60.0) -> None:
    """Start the suite's redis-server again and wait until it has loaded its AOF, so that
    neither the next step nor the next test meets ``LOADING``."""
    server.start()
    client = redis.Redis.from_url(server.url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.llen("bumper:probe")
                return
            except redis.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()
