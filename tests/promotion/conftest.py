"""Fixtures of the promotion tests: the harness (tests/promotion/harness.py) set up for one
test, with the environment variables set and the worker's context reloaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bumper import configfile, settings
from bumper.web import create_app
from tests.promotion import harness
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer
from worker import context


@pytest.fixture
def gates() -> dict[str, str]:
    """Override in a test module to change the staging or prod gate (``setup``'s keywords)."""
    return {}


@pytest.fixture
def sim(
    forgesim: ForgeSim,
    tmp_path: Path,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    gates: dict[str, str],
) -> Iterator[ForgeSim]:
    for name, value in harness.setup(forgesim, tmp_path, redis_server.url, **gates).items():
        monkeypatch.setenv(name, value)
    context.current.cache_clear()
    yield forgesim
    context.current.cache_clear()


@pytest.fixture
def web(sim: ForgeSim) -> FlaskClient:
    current = settings.load()
    return create_app(current, configfile.load(current.config_file)).test_client()
