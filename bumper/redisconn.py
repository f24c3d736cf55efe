"""Every Redis client of web, worker and CLI is made here: one place for URLs, TLS, Sentinel,
the password and how a client behaves when the primary goes away.

``BUMPER_REDIS_URL`` takes:

- ``redis://host:port/db``, ``unix:///path?db=N``: one server;
- ``rediss://host:port/db``: the same over TLS, verified against ``BUMPER_REDIS_CA_FILE``
  (the system's CAs when unset);
- ``redis+sentinel://host:port[,host:port...]/service[/db]`` (``rediss+sentinel://`` over
  TLS): the primary of ``service`` as the Sentinels name it. Every new connection asks a
  Sentinel where the primary is, so after a failover the next command reaches the promoted
  replica; a connection still open to a demoted primary is dropped at its first ``READONLY``.

The password only ever comes from ``BUMPER_REDIS_PASSWORD_FILE`` (``bumper.settings`` refuses
a URL carrying one); with Sentinel it is the primary's (and its replicas'), and the Sentinels
are asked with ``BUMPER_REDIS_SENTINEL_PASSWORD_FILE``'s when set (see docs/redis.md).

Two behaviours, chosen by the caller: ``Role.WEB`` fails fast (one immediate retry, short
timeouts) so an outage becomes a 503 with ``Retry-After`` within a request's time;
``Role.WORKER`` rides out a failover (retries with backoff for about ``FAILOVER_SECONDS``).

Must not: log or quote a password, nor connect when a client is made (the first command does).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry
from redis.sentinel import Sentinel

from bumper.errors import ConfigError
from bumper.settings import Settings

log = logging.getLogger("bumper.redis")

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
# Sentinel's default down-after-milliseconds is 30 s; a typical setting is 5 s, and the
# election plus reconfiguration take a few more: workers keep retrying about this long.
FAILOVER_SECONDS = 30


# What a new connection says besides HELLO: nothing. redis-py would also send CLIENT
# MAINT_NOTIFICATIONS (Redis Enterprise's maintenance notices; open-source Redis answers
# "unknown subcommand") and two CLIENT SETINFO. Each is a round trip on every new connection,
# and every RQ work horse opens new ones after its fork (issue 18: webhook → PR latency).
HANDSHAKE: dict[str, Any] = {
    "maint_notifications_config": MaintNotificationsConfig(enabled=False),
    "driver_info": None,
}


class Role(enum.Enum):
    WEB = "web"  # fail fast: 503 + Retry-After
    WORKER = "worker"  # ride out a failover
    CLI = "cli"  # one attempt, a clear error


@dataclass(frozen=True)
class SentinelTarget:
    """What a ``redis+sentinel://`` URL names."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    tls: bool


def parse_sentinel_url(url: str) -> SentinelTarget:
    """``redis+sentinel://h1:26379,h2:26379/mymaster/0`` → its parts; ``ConfigError`` if bad."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SENTINEL_SCHEMES:
        raise ConfigError(f"BUMPER_REDIS_URL: not a Sentinel URL (scheme {scheme!r})")
    hosts: list[tuple[str, int]] = []
    for item in parts.netloc.split(","):
        host, _, port = item.strip().rpartition(":")
        if not item.strip():
            continue
        if not host:
            host, port = item.strip(), "26379"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("BUMPER_REDIS_URL: a Sentinel address needs host:port")
        hosts.append((host.strip("[]"), int(port)))
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not hosts or not path or len(path) > 2:
        raise ConfigError(
            "BUMPER_REDIS_URL: a Sentinel URL is "
            "redis+sentinel://host:port[,host:port...]/service_name[/db]"
        )
    if len(path) == 2 and not path[1].isdigit():
        raise ConfigError("BUMPER_REDIS_URL: the database after the service name is a number")
    db = int(path[1]) if len(path) == 2 else 0
    return SentinelTarget(tuple(hosts), path[0], db, tls=scheme == "rediss+sentinel")


def describe(url: str) -> str:
    """The URL as logs and errors may show it: scheme, hosts and path (never user-info)."""
    parts = urlsplit(url)
    hosts = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{hosts}{parts.path}"


def _behaviour(role: Role, timeout: float) -> dict[str, Any]:
    if role is Role.WEB:
        # One retry without backoff replaces a pooled connection that died with a restart or
        # a failover; a second failure is reported (503) rather than holding the request.
        retry = Retry(NoBackoff(), 1)
    elif role is Role.WORKER:
        # 10 retries, 0.25 s doubling to 5 s: about FAILOVER_SECONDS before giving up.
        retry = Retry(ExponentialBackoff(cap=5, base=0.25), 10)
    else:
        retry = Retry(NoBackoff(), 0)
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": retry,
        "health_check_interval": 30,
        **HANDSHAKE,
    }


def connect(settings: Settings, role: Role, *, timeout: float | None = None) -> redis.Redis:
    """A client for ``settings.redis_url`` behaving as ``role`` (see the module docstring).
    ``timeout``: socket timeouts in seconds (default: the web's for WEB, 10 s otherwise)."""
    if timeout is None:
        timeout = settings.web.redis_timeout_seconds if role is Role.WEB else 10.0
    options = _behaviour(role, timeout)
    password = settings.redis_password()
    url = settings.redis_url
    scheme = urlsplit(url).scheme.lower()
    ca_file = str(settings.redis_ca_file) if settings.redis_ca_file else None
    if scheme in SENTINEL_SCHEMES:
        target = parse_sentinel_url(url)
        tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": ca_file} if target.tls else {}
        asking = {"socket_timeout": timeout, "socket_connect_timeout": timeout, **tls}
        sentinel_password = settings.redis_sentinel_password()
        if sentinel_password is not None:
            asking["password"] = sentinel_password
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(target.sentinels),
            sentinel_kwargs=asking,
            **tls,
        )
        primary: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            target.service, db=target.db, password=password, **options
        )
        return primary
    if scheme == "rediss" and ca_file:
        options["ssl_ca_certs"] = ca_file
    try:
        return redis.Redis.from_url(url, password=password, **options)
    except ValueError as error:  # an unknown scheme, a bad db
        raise ConfigError(f"BUMPER_REDIS_URL: {error}") from None


def persistence_warning(client: redis.Redis) -> str | None:
    """One line saying what, in Redis' persistence settings, weakens "202 means queued"
    (docs/redis.md), or None when they hold. A managed Redis that disables ``CONFIG`` gets a
    line saying the settings could not be checked; a Redis that cannot be reached, None (the
    caller's own connection handling reports that)."""
    try:
        found = {
            str(key): str(value)
            for name in ("appendonly", "appendfsync", "min-replicas-to-write")
            for key, value in _config_get(client, name).items()
        }
    except redis.exceptions.ResponseError:
        return (
            "Redis persistence not checked (CONFIG is disabled): make sure the server keeps an "
            "AOF with appendfsync always or everysec (docs/redis.md)"
        )
    except redis.exceptions.RedisError:
        return None
    problems = []
    if found.get("appendonly") != "yes":
        problems.append("appendonly is not yes (a restart loses queued events)")
    elif found.get("appendfsync") == "no":
        problems.append("appendfsync is no (a crash loses recent events)")
    replicas = int(found.get("min-replicas-to-write") or 0)
    if _has_replicas(client) and replicas < 1:
        problems.append("min-replicas-to-write is 0 (a failover can lose acknowledged events)")
    if not problems:
        return None
    return "Redis persistence: " + "; ".join(problems) + " (docs/redis.md)"


def _config_get(client: redis.Redis, name: str) -> dict[Any, Any]:
    values = client.config_get(name)
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in values.items()
    }


def _has_replicas(client: redis.Redis) -> bool:
    try:
        info = client.info("replication")
    except redis.exceptions.RedisError:
        return False
    return int(info.get("connected_slaves") or 0) > 0


def warn_on_persistence(client: redis.Redis, who: str) -> None:
    """Log ``persistence_warning`` once, as ``who`` starts (web or worker)."""
    warning = persistence_warning(client)
    if warning is not None:
        log.warning("%s: %s", who, warning)
