"""The agent's reports to Bumper's web process: bad images and health, over its API.

The one channel for agent reports: ``POST <report_url>/agent/v1/reports`` with the agent's
own bearer token (bumper.yaml's ``agents`` on the web side; ``bumper.core.agentreport`` is the
schema). The agent holds no Redis credentials and imports no Redis client (.importlinter).

Promises:

- ``bad_images`` (the engine's ``ports.BadImageSink``), ``status`` and ``running`` (what runs,
  with observed digests: ``bumper.agent.running``) never block the sync loop: they queue, and
  one background thread posts;
- delivery is retried with exponential backoff (``BACKOFF_FIRST`` doubling up to
  ``BACKOFF_CAP`` seconds) while the web process is unreachable or answers 5xx, 408 or 429;
  a report it refuses as invalid (another 4xx) is dropped with an error line, not retried
  forever;
- pending bad-image records are bounded (``PENDING_LIMIT``, oldest dropped with a warning);
  only the newest status and the newest running list are kept. The ConfigMap still holds
  every record either way;
- a log line names the URL and the HTTP status or exception type, never the token or body;
- ``close`` sends what is pending (bounded by a timeout) before the process exits, so
  ``bumper agent --once`` reports too.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from typing import Any

import requests
from pydantic import ValidationError

from bumper.agent import status as report
from bumper.core import agentreport, changes

log = logging.getLogger("bumper.agent.reporter")

BACKOFF_FIRST = 1.0
BACKOFF_CAP = 300.0
PENDING_LIMIT = 500
TIMEOUT = 10.0
_RETRIED = frozenset({408, 429})


class Reporter:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        backoff_first: float = BACKOFF_FIRST,
        backoff_cap: float = BACKOFF_CAP,
        timeout: float = TIMEOUT,
    ) -> None:
        self.url = base_url.rstrip("/") + agentreport.PATH
        self._headers = {"Authorization": f"Bearer {token}"}
        self.backoff_first = backoff_first
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.session = requests.Session()
        self._records: collections.deque[dict[str, Any]] = collections.deque()
        self._status: dict[str, str] | None = None
        self._running: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bumper-reporter", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:  # the headers hold the token
        return f"Reporter({self.url!r})"

    # -- what the agent calls: never blocks -------------------------------------------------

    def bad_images(self, records: list[dict[str, Any]]) -> None:
        """Queue records (``bumper.agent.badimages.record_for``) for the web process; one the
        report schema would refuse (an odd image reference) stays in the ConfigMap only."""
        valid = [r for r in map(_one_line, records) if _fits(agentreport.BadImage, r)]
        with self._lock:
            self._records.extend(valid)
            dropped = 0
            while len(self._records) > PENDING_LIMIT:
                self._records.popleft()
                dropped += 1
            self._pending()
        if dropped:
            log.warning(
                "bad-image reports dropped (%d pending already): %d", PENDING_LIMIT, dropped
            )

    def status(self, status: report.Status) -> None:
        """Queue the agent's health after a pass; a newer one replaces an unsent one."""
        summary = {
            "health": status.health,
            "commit": status.commit,
            "message": changes.inline(status.message, 500),
            "last_error": changes.inline(status.last_error, 500),
            "last_sync_time": status.last_sync_time,
        }
        if not _fits(agentreport.Health, summary):
            return
        with self._lock:
            self._status = summary
            self._pending()

    def running(self, entries: list[dict[str, Any]]) -> None:
        """Queue what runs (``bumper.agent.running.observe``); a newer list replaces an unsent
        one. Entries are checked there already; the list is cut to the schema's bound."""
        with self._lock:
            self._running = list(entries[: agentreport.MAX_RUNNING])
            self._pending()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until nothing is pending; True if all was sent."""
        return self._idle.wait(timeout)

    def close(self, timeout: float) -> bool:
        """Send what is pending (up to ``timeout`` seconds), then stop; True if all was sent."""
        sent = self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=1)
        return sent

    # -- the sending thread -----------------------------------------------------------------

    def _pending(self) -> None:
        self._idle.clear()
        self._wake.set()

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            while not self._stop.is_set():
                batch = self._take()
                if batch is None:
                    break
                outcome = self._send(batch)
                if outcome != "retry":
                    failures = 0
                    continue
                self._give_back(batch)
                failures += 1
                delay = min(self.backoff_cap, self.backoff_first * 2 ** (failures - 1))
                self._stop.wait(delay * random.uniform(0.8, 1.2))

    def _take(self) -> dict[str, Any] | None:
        with self._lock:
            if not self._records and self._status is None and self._running is None:
                self._idle.set()
                return None
            count = min(len(self._records), agentreport.MAX_RECORDS)
            records = [self._records.popleft() for _ in range(count)]
            batch: dict[str, Any] = {"bad_images": records}
            if self._status is not None:
                batch["status"], self._status = self._status, None
            if self._running is not None:
                batch["running"], self._running = self._running, None
            return batch

    def _give_back(self, batch: dict[str, Any]) -> None:
        with self._lock:
            self._records.extendleft(reversed(batch["bad_images"]))
            while len(self._records) > PENDING_LIMIT:
                self._records.pop()
            if self._status is None and "status" in batch:
                self._status = batch["status"]
            if self._running is None and "running" in batch:
                self._running = batch["running"]

    def _send(self, batch: dict[str, Any]) -> str:
        """``sent``, ``dropped`` (refused as invalid: retrying cannot help) or ``retry``."""
        started = time.monotonic()
        try:
            reply = self.session.post(
                self.url, json=batch, headers=self._headers, timeout=self.timeout
            )
        except requests.RequestException as error:
            log.warning("report to %s failed: %s; retrying", self.url, type(error).__name__)
            return "retry"
        if reply.ok:
            log.debug("reported to %s in %.0f ms", self.url, (time.monotonic() - started) * 1000)
            return "sent"
        reason = _reason(reply)
        if reply.status_code >= 500 or reply.status_code in _RETRIED:
            log.warning("report to %s: HTTP %d %s; retrying", self.url, reply.status_code, reason)
            return "retry"
        log.error("report to %s refused: HTTP %d %s", self.url, reply.status_code, reason)
        return "dropped"


def _one_line(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the report schema takes it: free text on one bounded line."""
    return {**record, "reason": changes.inline(str(record.get("reason") or ""), 500)}


def _fits(schema: type[agentreport.BadImage | agentreport.Health], data: dict[str, Any]) -> bool:
    try:
        schema.model_validate(data)
    except ValidationError as error:
        where = ".".join(str(p) for p in error.errors()[0]["loc"])
        log.warning("not reported (the report schema refuses %s): %s", where, data.get("ref", ""))
        return False
    return True


def _reason(reply: requests.Response) -> str:
    """The web's one-line ``{"error": reason}``, bounded; never the request."""
    try:
        data = reply.json()
    except ValueError:
        return ""
    return str(data.get("error", ""))[:60] if isinstance(data, dict) else ""
