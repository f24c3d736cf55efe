"""Suite-wide fixtures: paths to ../shared and a real redis-server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import RedisServer

# The Kubernetes test bed and registry fixtures (kube_apiserver, kube_full, registry, crane).
pytest_plugins = ["tests.support.testbed", "tests.support.forgesim.fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout; tests that need it skip with a clear reason if absent."""
    if not SHARED.is_dir():
        pytest.skip(f"../shared is absent (looked at {SHARED}); shared fixtures unavailable")
    return SHARED


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session. Tests flush what they use."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the session's Redis, emptied before and after the test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``logs.configure`` replaces the root handlers: give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
