"""The worker's liveness file: proof that its main loop still turns, for a probe to read.

``bumper worker --alive-file PATH`` rewrites PATH at every RQ heartbeat (``worker.rqworker``)
with the time by which the next one is due; ``bumper worker --check-alive PATH`` (the chart's
exec probe) succeeds while that time has not passed. The file, not Redis, is the evidence: a
worker waiting out a Redis outage still beats (it retries its dequeue), so only a wedged or
dead loop fails the probe, and the probe needs no Redis credentials.

A heartbeat comes at least every ``abandoned_after`` seconds while idle (the blocking dequeue's
timeout), every third of it while a job runs, and every minute at most while Redis is down
(RQ's backoff cap): twice the longer of these is the slack written into the file.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

REDIS_RETRY_CAP = 60  # RQ's Worker.max_connection_wait_time
MAX_BYTES = 64  # the file is one short line; a probe pointed at another file reads no more
_ALIVE = re.compile(rb"\s*alive\s+until\s+([0-9]{1,15})\s*")


def slack(abandoned_after: int) -> int:
    """Seconds within which the next heartbeat is due, generously."""
    return 2 * max(abandoned_after, REDIS_RETRY_CAP)


def touch(path: Path, due_in: int, now: float | None = None) -> None:
    """Write ``alive until <unix time>`` atomically: a probe never reads half a file."""
    until = (time.time() if now is None else now) + due_in
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"alive until {until:.0f}\n")
    os.replace(tmp, path)


def problem(path: Path, now: float | None = None) -> str | None:
    """Why ``path`` shows no live worker, or None when it does."""
    try:
        with path.open("rb") as file:
            head = file.read(MAX_BYTES + 1)
    except OSError as error:
        return f"{path}: {error.strerror or error}: the worker has not beaten yet"
    found = _ALIVE.fullmatch(head) if len(head) <= MAX_BYTES else None
    if found is None:
        return f"{path}: not a liveness file (expected 'alive until <unix time>')"
    late = (time.time() if now is None else now) - int(found.group(1))
    if late > 0:
        return f"{path}: the worker's last heartbeat is {late:.0f}s overdue"
    return None
