"""The package's outer shell: CLI dispatch, error tree and event round-trip."""

from __future__ import annotations

import subprocess
import sys

import bumper
from bumper import errors
from bumper.cli import main
from bumper.core import events


def test_version_command_prints_version(capsys: object) -> None:
    assert main(["version"]) == 0


def test_unknown_command_exits_2() -> None:
    assert main(["no-such-command"]) == 2


def test_console_entry_point_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bumper", "version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == bumper.__version__


def test_transient_error_carries_delay_and_reason() -> None:
    error = errors.TransientError("rate limited", delay=12.5, reason="rate-limit")
    assert isinstance(error, errors.BumperError)
    assert (error.delay, error.reason, str(error)) == (12.5, "rate-limit", "rate limited")


def test_event_round_trips_through_dict() -> None:
    pushed = events.ImageEvent(type="image.pushed", image="docker.io/library/nginx", tag="1.27")
    built = events.BuildFinished(status="success", commit="abc", repository="acme/api")
    for event in (pushed, built):
        assert events.from_dict(events.to_dict(event)) == event
    stamped = events.stamp(pushed, source="dockerhub", delivery_id="d1", received_at=1.0)
    assert (stamped.source, stamped.delivery_id, stamped.received_at) == ("dockerhub", "d1", 1.0)


def test_suite_redis_is_a_real_server(redis_server: object) -> None:
    import redis

    from tests.support.redis_server import RedisServer

    assert isinstance(redis_server, RedisServer)
    client = redis.Redis.from_url(redis_server.url)
    client.set("bumper:probe", b"1")
    assert client.get("bumper:probe") == b"1"
    assert client.info("server")["redis_version"]
