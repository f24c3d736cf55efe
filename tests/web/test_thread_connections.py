"""The intake's per-thread Redis connections, against a real redis-server: one connection per
thread, a new one after a fork, the client's settings (database) honoured, Redis' error
replies raised as redis-py's exceptions, and a Redis restart bridged by the one retry."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bumper.web.intake import ThreadConnections
from tests.support.redis_server import RedisServer
from tests.web.conftest import start_redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of its own: these tests stop it, which must not touch the suite's."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def _client_id(connections: ThreadConnections) -> int:
    return int(connections.call("CLIENT", "ID"))


def test_each_thread_keeps_its_own_connection(redis_server: RedisServer) -> None:
    connections = ThreadConnections(redis.Redis.from_url(redis_server.url))
    mine = _client_id(connections)
    assert _client_id(connections) == mine  # kept, not reopened per call
    others: list[int] = []
    threads = [
        threading.Thread(target=lambda: others.append(_client_id(connections))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({mine, *others}) == 4


def _child_client_id(connections: ThreadConnections, out: multiprocessing.Queue[int]) -> None:
    out.put(_client_id(connections))


def test_a_forked_child_opens_its_own_connection(redis_server: RedisServer) -> None:
    connections = ThreadConnections(redis.Redis.from_url(redis_server.url))
    parent = _client_id(connections)
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[int] = context.Queue()
    child = context.Process(target=_child_client_id, args=(connections, out))
    child.start()
    child_id = out.get(timeout=30)
    child.join(timeout=30)
    assert child_id != parent
    # The parent's connection survived the child (its socket was not shut down there).
    assert _client_id(connections) == parent


def test_the_clients_database_and_replies_are_honoured(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/3")
    client.delete("bumper:test:db")
    connections = ThreadConnections(client)
    assert connections.call("SET", "bumper:test:db", "x") == b"OK"
    assert client.get("bumper:test:db") == b"x"
    assert redis.Redis.from_url(redis_server.url).get("bumper:test:db") is None
    with pytest.raises(redis.exceptions.NoScriptError):
        connections.call("EVALSHA", "0" * 40, 0)
    with pytest.raises(redis.ResponseError):
        connections.call("INCR", "bumper:test:db")
    client.delete("bumper:test:db")


def test_a_redis_restart_is_bridged_and_an_outage_raises(own_redis: RedisServer) -> None:
    connections = ThreadConnections(redis.Redis.from_url(own_redis.url, socket_timeout=5))
    assert connections.call("PING") == b"PONG"
    own_redis.stop()
    with pytest.raises(redis.ConnectionError):
        connections.call("PING")
    start_redis(own_redis)
    # The dead connection was dropped: the next call reconnects without an error.
    assert connections.call("PING") == b"PONG"
    own_redis.stop()
    start_redis(own_redis)
    # The kept connection is stale now (the server restarted under it): the retry hides it.
    assert connections.call("PING") == b"PONG"
