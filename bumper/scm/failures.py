"""Turn a forge's HTTP failure into Bumper's ``TransientError`` / ``PermanentError``.

Library-free, so both adapters share one rule set (see the table in ``bumper.scm.base``).
Retry delays honour ``Retry-After`` (seconds or an HTTP date), then the rate-limit reset headers
(GitHub ``X-RateLimit-Reset`` with ``X-RateLimit-Remaining: 0``, GitLab ``RateLimit-Reset``),
as read by ``bumper.core.ratelimit``, the parser the registry client shares.

Every reply (or its absence) is also handed to one ``Listener`` (``listen``): both adapters call
``replied`` from their HTTP session, so the worker counts forge requests by status and keeps
the rate limit left (``bumper.jobmetrics``) without either adapter knowing about metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from bumper.core import ratelimit
from bumper.errors import BumperError, PermanentError, TransientError

MIN_DELAY = 1.0
MAX_DELAY = 3600.0
RATE_LIMIT_DELAY = 60.0  # no header says when: GitHub's advice is at least a minute
SERVER_ERROR_DELAY = 15.0
CONFLICT_DELAY = 30.0

_PERMANENT_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    410: "gone",
    422: "invalid",
}


# (forge, API host, HTTP status or None when no reply came, reply headers)
Listener = Callable[[str, str, int | None, Mapping[str, str]], None]
_listeners: list[Listener] = []


def listen(listener: Listener | None) -> None:
    """Hand every forge reply of this process to ``listener`` (None: to nobody)."""
    _listeners[:] = [] if listener is None else [listener]


def replied(forge: str, host: str, status: int | None, headers: Mapping[str, str]) -> None:
    """Called by the adapters for each HTTP exchange; a listener's failure never fails a call."""
    for listener in _listeners:
        try:
            listener(forge, host, status, headers)
        except Exception:  # metrics are best effort: the forge call itself went fine
            pass


def rate_limit_remaining(headers: Mapping[str, str]) -> int | None:
    """Requests left in the window: GitHub ``X-RateLimit-Remaining``, GitLab
    ``RateLimit-Remaining``; None when the reply does not say."""
    return ratelimit.remaining(headers)


def retry_delay(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the forge asked us to wait (``bumper.core.ratelimit``), clamped to
    [``MIN_DELAY``, ``MAX_DELAY``]; None when no header says so."""
    wait = ratelimit.requested_wait(headers, time.time() if now is None else now)
    return None if wait is None else _clamp(wait)


def _clamp(delay: float) -> float:
    return max(MIN_DELAY, min(MAX_DELAY, delay))


def is_rate_limited(status: int, headers: Mapping[str, str], message: str) -> bool:
    if status == 429:
        return True
    if status != 403:
        return False
    text = message.lower()
    return (
        ratelimit.header(headers, "Retry-After") is not None
        or ratelimit.remaining(headers) == 0
        or "rate limit" in text
        or "too many" in text
    )


def from_http(
    status: int | None,
    headers: Mapping[str, str],
    message: str,
    *,
    action: str,
    not_mergeable_statuses: tuple[int, ...] = (),
) -> BumperError:
    """The Bumper error for a failed forge call; ``action`` names it for humans, e.g.
    "github acme/config: merge #3". ``not_mergeable_statuses`` are statuses this call uses for
    "cannot merge right now" (GitHub 405, GitLab 405/406/422 on merge)."""
    text = f"{action}: {status or 'no response'} {message}".strip()
    if status is None or status >= 500:
        return TransientError(text, delay=SERVER_ERROR_DELAY, reason="forge_unavailable")
    if is_rate_limited(status, headers, message):
        delay = retry_delay(headers) or RATE_LIMIT_DELAY
        return TransientError(text, delay=delay, reason="rate_limited")
    if status == 409:
        return TransientError(text, delay=CONFLICT_DELAY, reason="conflict")
    if status in not_mergeable_statuses:
        return TransientError(text, delay=CONFLICT_DELAY, reason="not_mergeable")
    return PermanentError(text, reason=_PERMANENT_REASONS.get(status, f"http_{status}"))
