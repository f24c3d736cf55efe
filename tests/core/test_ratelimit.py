"""The one reader of Retry-After and rate-limit headers (forges and registries alike)."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from bumper.core import ratelimit

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        (formatdate(NOW + 30, usegmt=True), 30.0),
        ("Tue, 14 Nov 2023 22:13:50 GMT", 30.0),  # NOW + 30, as a server writes it
        (formatdate(NOW - 600, usegmt=True), 0.0),  # already past: no wait
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
        ("9" * 500, None),  # bounded: not a number worth waiting for
        ("Tue, 14 Nov 2023 22:13:50", None),  # no zone: not an HTTP date
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str | None, expected: float) -> None:
    assert ratelimit.retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(int(NOW) + 45), 45.0),  # GitHub, GitLab: an epoch time
        (str(int(NOW) - 50), 0.0),
        ("30", 30.0),  # the IETF draft, registries: delta-seconds
        ("nope", None),
        (None, None),
    ],
)
def test_a_reset_is_an_epoch_time_or_a_delta(value: str | None, expected: float) -> None:
    assert ratelimit.reset_after(value, NOW) == expected


def test_remaining_reads_the_leading_number_of_either_header() -> None:
    assert ratelimit.remaining({"ratelimit-remaining": "76;w=21600"}) == 76
    assert ratelimit.remaining({"X-RateLimit-Remaining": "0"}) == 0
    assert ratelimit.remaining({"RateLimit-Remaining": "nope"}) is None
    assert ratelimit.remaining({}) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12", "RateLimit-Reset": "99"}, 12.0),  # Retry-After first
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 500)}, 500.0),
        ({"X-RateLimit-Remaining": "7", "X-RateLimit-Reset": str(int(NOW) + 500)}, None),
        ({"RateLimit-Reset": "20"}, 20.0),
        ({"retry-after": "soon", "ratelimit-reset": "20"}, 20.0),  # an unreadable one skipped
        ({"Content-Type": "application/json"}, None),
    ],
)
def test_requested_wait_takes_the_first_header_that_says(
    headers: dict[str, str], expected: float | None
) -> None:
    assert ratelimit.requested_wait(headers, NOW) == expected
