"""bumper.redisconn: one client factory for plain, TLS and Sentinel URLs; clients that follow a
Sentinel failover; the persistence warning. Real redis-server and Sentinel processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bumper import redisconn
from bumper import settings as settings_module
from bumper.errors import ConfigError
from bumper.settings import Settings
from tests.support.redis_server import RedisServer
from tests.support.sentinel import SentinelGroup


def settings(url: str, **more: object) -> Settings:
    return Settings(redis_url=url, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "hosts", "service", "db"),
    [
        ("redis+sentinel://10.0.0.1:26379/mymaster", (("10.0.0.1", 26379),), "mymaster", 0),
        (
            "redis+sentinel://a:1,b:2,[::1]:3/svc/4",
            (("a", 1), ("b", 2), ("::1", 3)),
            "svc",
            4,
        ),
        ("redis+sentinel://a/svc", (("a", 26379),), "svc", 0),
    ],
)
def test_sentinel_urls_name_their_sentinels_service_and_db(
    url: str, hosts: tuple[tuple[str, int], ...], service: str, db: int
) -> None:
    target = redisconn.parse_sentinel_url(url)
    assert (target.sentinels, target.service, target.db, target.tls) == (hosts, service, db, False)
    assert redisconn.parse_sentinel_url("rediss+sentinel://a:1/s").tls


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://a:1",
        "redis+sentinel://a:1/s/x",
        "redis+sentinel://a:99999/s",
        "redis+sentinel:///s",
    ],
)
def test_a_bad_sentinel_url_is_a_one_line_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="^BUMPER_REDIS_URL: ") as caught:
        redisconn.connect(settings(url), redisconn.Role.WORKER)
    assert "\n" not in str(caught.value)


def test_a_sentinel_url_with_a_password_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUMPER_REDIS_URL", "redis+sentinel://:hunter2@a:1/svc")
    with pytest.raises(ConfigError, match="BUMPER_REDIS_PASSWORD_FILE") as caught:
        settings_module.load()
    assert "hunter2" not in str(caught.value)


def test_rediss_verifies_the_server_against_the_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    client = redisconn.connect(
        settings("rediss://redis.example:6380/2", redis_ca_file=ca), redisconn.Role.WEB
    )
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["ssl_ca_certs"], kwargs["host"], kwargs["db"]) == (str(ca), "redis.example", 2)
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"


def test_the_password_comes_from_the_file_for_sentinel_primaries(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    client = redisconn.connect(
        settings("redis+sentinel://a:1/svc/3", redis_password_file=secret), redisconn.Role.WEB
    )
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["db"]) == ("s3cret", 3)


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    started = SentinelGroup(tmp_path_factory.mktemp("sentinel")).start()
    yield started
    started.stop()


def test_a_worker_client_follows_a_failover_and_a_web_client_fails_fast(
    group: SentinelGroup,
) -> None:
    worker = redisconn.connect(settings(group.url), redisconn.Role.WORKER, timeout=1)
    web = redisconn.connect(
        settings(group.url, web={"redis_timeout_seconds": 0.5}), redisconn.Role.WEB
    )
    worker.set("before", "1")
    assert worker.wait(1, 2000) == 1  # on the replica before the primary dies
    old = group.kill_primary()
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        web.set("during", "1")  # no primary yet: an error the web turns into a 503
    assert time.monotonic() - started < 5
    # the worker client retries with backoff until the Sentinel has promoted the replica
    worker.set("after", "1")
    assert group.master_port() != old.port
    assert worker.get("before") == b"1"
    assert web.get("after") == b"1"  # the web client reconnects once a primary exists
    old.start()  # back as a replica of the new primary, demoted by the Sentinel


def test_no_warning_for_an_aof_that_fsyncs(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    assert redisconn.persistence_warning(client) is None


def test_a_redis_without_aof_gets_one_warning_line(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, extra_args=("--appendonly", "no"))
    server.start()
    try:
        warning = redisconn.persistence_warning(redis.Redis(port=server.port))
    finally:
        server.stop()
    assert warning is not None and "appendonly is not yes" in warning and "\n" not in warning


def test_a_managed_redis_without_config_is_tolerated(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, extra_args=("--rename-command", "CONFIG", '""'))
    server.start()
    try:
        warning = redisconn.persistence_warning(redis.Redis(port=server.port))
    finally:
        server.stop()
    assert warning is not None and warning.startswith("Redis persistence not checked")


def test_replicas_without_min_replicas_to_write_are_named(group: SentinelGroup) -> None:
    port = group.master_port()
    assert port is not None
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20  # the old primary may still be coming back as a replica
    while int(client.info("replication")["connected_slaves"]) < 1:
        assert time.monotonic() < deadline, "no replica connected"
        time.sleep(0.1)
    warning = redisconn.persistence_warning(client)
    assert warning is not None and "min-replicas-to-write is 0" in warning
    client.config_set("min-replicas-to-write", 1)
    try:
        assert redisconn.persistence_warning(client) is None
    finally:
        client.config_set("min-replicas-to-write", 0)


def test_sentinels_requiring_a_password_are_asked_with_the_sentinel_password_file(
    tmp_path: Path,
) -> None:
    group = SentinelGroup(tmp_path / "group", sentinel_password="sentinel-pw-42").start()
    secret = tmp_path / "sentinel-pw"
    secret.write_text("sentinel-pw-42\n")
    try:
        with_password = redisconn.connect(
            settings(group.url, redis_sentinel_password_file=secret), redisconn.Role.CLI
        )
        with_password.set("k", "v")
        assert with_password.get("k") == b"v"
        without = redisconn.connect(settings(group.url), redisconn.Role.CLI, timeout=1)
        with pytest.raises(redis.RedisError) as refused:
            without.get("k")
        assert "sentinel-pw-42" not in str(refused.value)
    finally:
        group.stop()


def test_an_unreadable_sentinel_password_file_is_a_one_line_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="Sentinel password") as caught:
        redisconn.connect(
            settings("redis+sentinel://a:1/svc", redis_sentinel_password_file=missing),
            redisconn.Role.WEB,
        )
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("role", list(redisconn.Role))
def test_a_new_connection_says_only_hello(redis_server: RedisServer, role: redisconn.Role) -> None:
    """No CLIENT MAINT_NOTIFICATIONS, no CLIENT SETINFO: a round trip each on every connection
    a forked work horse opens (issue 18)."""
    watcher = redis.Redis.from_url(redis_server.url)
    watcher.config_resetstat()
    client = redisconn.connect(settings(redis_server.url), role)
    client.get("anything")
    client.close()
    stats = watcher.info("commandstats")
    assert "cmdstat_hello" in stats  # the handshake ran
    assert not [name for name in stats if name.startswith("cmdstat_client")]
    assert not watcher.info("errorstats")  # nor an 'unknown subcommand' answer
