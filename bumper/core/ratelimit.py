"""Reading how long a server asks us to wait: the one parser of ``Retry-After`` and the
rate-limit headers, shared by the forge adapters (``bumper.scm.failures``) and the registry
client (``bumper.registry.client``).

- ``Retry-After`` (RFC 9110): delta-seconds (``120``) or an HTTP date
  (``Wed, 21 Oct 2015 07:28:00 GMT``), measured from ``now``.
- Rate-limit windows: ``X-RateLimit-Reset`` (GitHub, counted only with
  ``X-RateLimit-Remaining: 0``, since GitHub sends it on every reply) and ``RateLimit-Reset``
  (GitLab, the IETF draft and registries). A reset is either an epoch time (GitHub, GitLab) or
  delta-seconds (the IETF draft): a number past ``EPOCH_FLOOR`` (2001) is a time.
- ``RateLimit-Remaining`` / ``X-RateLimit-Remaining``: the leading number, so Docker Hub's
  ``76;w=21600`` is 76.

Pure: no clock (``now`` is given), no I/O; every value is bounded before it is parsed. What to
do about a wait (clamp it, pause a host, fail a job) is the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

EPOCH_FLOOR = 1_000_000_000  # 2001-09-09: a reset above this is an epoch time, not a delta
MAX_VALUE = 200  # characters of a header value read
_NUMBER = re.compile(r"\s*(\d{1,12})(?:\.\d+)?\s*(?:;|,|$)")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``name``'s value, whatever its case in ``headers``; None when absent."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)[:MAX_VALUE]
    return None


def number(value: str | None) -> int | None:
    """The leading whole number of a header value (``100``, ``100;w=21600``, ``1.5``)."""
    found = _NUMBER.match(value[:MAX_VALUE]) if value else None
    return int(found.group(1)) if found else None


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` value asks for (0 for a date already past); None if the
    value is neither delta-seconds nor an HTTP date."""
    if not value or not value.strip():
        return None
    seconds = number(value)
    if seconds is not None:
        return float(seconds)
    try:
        moment = parsedate_to_datetime(value[:MAX_VALUE].strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; a naive one would read as local time
        return None
    return max(0.0, moment.timestamp() - now)


def reset_after(value: str | None, now: float) -> float | None:
    """Seconds until a rate-limit window resets (``RateLimit-Reset``, ``X-RateLimit-Reset``),
    given as an epoch time or as delta-seconds; 0 for a time already past."""
    seconds = number(value)
    if seconds is None:
        return None
    return max(0.0, seconds - now) if seconds >= EPOCH_FLOOR else float(seconds)


def remaining(headers: Mapping[str, str]) -> int | None:
    """Requests left in the window (``X-RateLimit-Remaining``, else ``RateLimit-Remaining``);
    None when the reply does not say."""
    for name in ("X-RateLimit-Remaining", "RateLimit-Remaining"):
        value = header(headers, name)
        if value is not None:
            return number(value)
    return None


def requested_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked us to wait, unclamped; None when no header says so:
    ``Retry-After``, else GitHub's ``X-RateLimit-Reset`` of an exhausted window, else
    ``RateLimit-Reset``."""
    wait = retry_after(header(headers, "Retry-After"), now)
    if wait is not None:
        return wait
    if number(header(headers, "X-RateLimit-Remaining")) == 0:
        wait = reset_after(header(headers, "X-RateLimit-Reset"), now)
        if wait is not None:
            return wait
    return reset_after(header(headers, "RateLimit-Reset"), now)
