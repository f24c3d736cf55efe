"""Fixtures of the worker tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.redis_server import RedisServer


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """The session's Redis, empty before and after the test."""
    connection = redis.Redis.from_url(redis_server.url)
    connection.flushdb()
    yield connection
    connection.flushdb()
