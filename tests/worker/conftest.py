"""Fixtures of the worker tests."""

from __future__ import annotations

import pytest
import redis


@pytest.fixture
def client(redis_client: redis.Redis) -> redis.Redis:
    """The session's Redis, empty before and after the test (tests/conftest.py)."""
    return redis_client
