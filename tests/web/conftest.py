"""Fixtures for the web tests: a flushed real Redis, a secret file, an app with one receiver
per sender (named after it), and helpers to sign a request the way each sender does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from bumper import sources
from bumper.core.config import BumperConfig
from bumper.settings import Settings, WebSettings
from bumper.web import create_app
from tests.sources import test_verify
from tests.support.redis_server import RedisServer

SECRET = test_verify.SECRET
OTHER = test_verify.OTHER
SIGNERS = test_verify.SIGNERS
QUEUE = "bumper-test"


def config_for(receivers: list[dict[str, Any]]) -> BumperConfig:
    return BumperConfig.model_validate({"apiVersion": "bumper/v1", "receivers": receivers})


def receiver_entry(name: str, sender: str, secret_file: Path, **more: Any) -> dict[str, Any]:
    return {"name": name, "type": sender, "secret": {"file": str(secret_file)}, **more}


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


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
def app(settings: Settings, secret_file: Path, redis_client: redis.Redis) -> Flask:
    entries = [receiver_entry(name, name, secret_file) for name in sorted(SIGNERS)]
    entries.append(receiver_entry("builds-only", "github", secret_file, events=["build.finished"]))
    entries.append(receiver_entry("tiny", "github", secret_file, max_body_bytes=64))
    return create_app(settings, config_for(entries))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def signed(
    sender: str, body: bytes, secret: str = SECRET, headers: dict[str, str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query) of a request signed for ``sender``; a URL token goes to ``?token=``."""
    out = {"Content-Type": "application/json", **(headers or {})}
    query: dict[str, str] = {}
    for name, value in SIGNERS[sender](body, secret).items():
        if name.lower() == "x-bumper-url-token":
            query["token"] = value
        else:
            out[name] = value
    return out, query


def known_senders() -> list[str]:
    return sorted(sources.SENDERS)
