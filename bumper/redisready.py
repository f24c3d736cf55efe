"""Reaching Redis at a process' start: an outage is waited out, a misconfiguration is an error.

Redis being down is not a misconfiguration: ``wait`` retries with backoff (1 s doubling to
30 s), logging one line per attempt. A refused password (``WRONGPASS``, ``NOAUTH``, an ACL
user without rights) is one: ``ConfigError`` naming ``BUMPER_REDIS_PASSWORD_FILE`` at once,
since waiting cannot fix it. Messages show the URL without any password.

Must not: retry forever on a configuration error, or log a password.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import redis
from redis import exceptions

from bumper.errors import ConfigError

log = logging.getLogger("bumper.redis")

FIRST_DELAY = 1.0
MAX_DELAY = 30.0


def redacted(url: str) -> str:
    """``scheme://host:port/db`` of a Redis URL, without user or password."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _auth_error(error: redis.RedisError) -> bool:
    text = str(error)
    auth = (
        exceptions.AuthenticationError,
        exceptions.AuthorizationError,
        exceptions.NoPermissionError,
    )
    return isinstance(error, auth) or any(
        word in text for word in ("WRONGPASS", "NOAUTH", "NOPERM", "invalid password")
    )


def ping(client: redis.Redis, url: str) -> None:
    """One ``PING``; ``ConfigError`` for a refused password, ``redis.RedisError`` otherwise."""
    try:
        client.ping()
    except redis.RedisError as error:
        if _auth_error(error):
            raise ConfigError(
                f"Redis at {redacted(url)} refused the password ({type(error).__name__}): "
                "check BUMPER_REDIS_PASSWORD_FILE (and the user in BUMPER_REDIS_URL)",
                reason="redis-auth",
            ) from None
        raise


def wait(
    client: redis.Redis,
    url: str,
    *,
    attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once Redis answers; one warning line per failed attempt, with the next delay.

    ``attempts`` bounds the tries (``None``: until it answers); the last failure is raised."""
    delay = FIRST_DELAY
    attempt = 0
    while True:
        attempt += 1
        try:
            ping(client, url)
        except ConfigError:
            raise
        except redis.RedisError as error:
            if attempts is not None and attempt >= attempts:
                raise
            log.warning(
                "waiting for Redis at %s: %s (attempt %d, next in %.0f s)",
                redacted(url),
                _reason(error),
                attempt,
                delay,
            )
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
            continue
        if attempt > 1:
            log.info("Redis at %s answers (after %d attempts)", redacted(url), attempt)
        return


def _reason(error: redis.RedisError) -> str:
    """The error's first line, without the library's long suffixes."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]
