"""bumper.scm.failures: the HTTP failure → Bumper error table, without a server."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from bumper.errors import PermanentError, TransientError
from bumper.scm import failures

NOW = 1_800_000_000.0


def test_retry_after_seconds_wins_over_reset_headers() -> None:
    headers = {
        "retry-after": "12",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(NOW) + 500),
    }
    assert failures.retry_delay(headers, now=NOW) == 12


def test_retry_after_http_date() -> None:
    assert failures.retry_delay({"Retry-After": formatdate(NOW + 30, usegmt=True)}, now=NOW) == 30


def test_github_reset_only_counts_when_nothing_remains() -> None:
    reset = str(int(NOW) + 200)
    assert (
        failures.retry_delay({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, now=NOW)
        == 200
    )
    assert (
        failures.retry_delay({"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": reset}, now=NOW)
        is None
    )


def test_gitlab_reset() -> None:
    assert failures.retry_delay({"RateLimit-Reset": str(int(NOW) + 45)}, now=NOW) == 45


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "0"}, failures.MIN_DELAY),
        ({"Retry-After": "999999"}, failures.MAX_DELAY),
        ({"RateLimit-Reset": str(int(NOW) - 50)}, failures.MIN_DELAY),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_delays_are_clamped_and_garbage_ignored(
    headers: dict[str, str], expected: float | None
) -> None:
    assert failures.retry_delay(headers, now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "headers", "message", "kind", "reason"),
    [
        (None, {}, "connection reset", TransientError, "forge_unavailable"),
        (500, {}, "boom", TransientError, "forge_unavailable"),
        (503, {}, "", TransientError, "forge_unavailable"),
        (429, {}, "", TransientError, "rate_limited"),
        (403, {"Retry-After": "3"}, "", TransientError, "rate_limited"),
        (403, {"RateLimit-Remaining": "0"}, "Forbidden", TransientError, "rate_limited"),
        (403, {}, "API rate limit exceeded for user ID 1.", TransientError, "rate_limited"),
        (403, {}, "Resource not accessible by integration", PermanentError, "forbidden"),
        (409, {}, "Head branch was modified", TransientError, "conflict"),
        (401, {}, "Bad credentials", PermanentError, "unauthorized"),
        (404, {}, "Not Found", PermanentError, "not_found"),
        (422, {}, "Validation Failed", PermanentError, "invalid"),
        (418, {}, "teapot", PermanentError, "http_418"),
    ],
)
def test_from_http_table(
    status: int | None,
    headers: dict[str, str],
    message: str,
    kind: type[TransientError | PermanentError],
    reason: str,
) -> None:
    err = failures.from_http(status, headers, message, action="github a/b: merge #1")
    assert isinstance(err, kind) and err.reason == reason
    assert str(err).startswith("github a/b: merge #1: ")


def test_not_mergeable_statuses_are_per_call() -> None:
    assert isinstance(failures.from_http(405, {}, "x", action="a"), PermanentError)
    err = failures.from_http(405, {}, "x", action="a", not_mergeable_statuses=(405,))
    assert isinstance(err, TransientError) and err.reason == "not_mergeable"


def test_rate_limit_without_any_header_backs_off_a_minute() -> None:
    err = failures.from_http(429, {}, "", action="a")
    assert isinstance(err, TransientError) and err.delay == failures.RATE_LIMIT_DELAY
