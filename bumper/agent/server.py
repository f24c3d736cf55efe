"""The agent's small HTTP side: GET /healthz, /readyz, /metrics and POST /hooks/git.

Standard library only (``http.server``), one thread per request. ``/healthz`` fails once the
sync loop has stopped making passes (stuck for longer than ``stale_after`` seconds);
``/readyz`` succeeds after the first pass. A verified push to the watched branch wakes the loop
(202); other verified deliveries get 202 with ``{"ignored": ...}``; refused ones get the 4xx
status and reason from ``trigger.verify``. Bodies and secrets are never logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bumper.agent import trigger
from bumper.errors import WebhookRejected

log = logging.getLogger("bumper.agent")


class AgentServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        metrics: Callable[[], str],
        trigger: Callable[[], None],
        last_pass: Callable[[], float],
        branch: str,
        secret: str | None,
        stale_after: float,
    ) -> None:
        super().__init__(address, _Handler)
        self.metrics = metrics
        self.trigger = trigger
        self.last_pass = last_pass
        self.branch = branch
        self.secret = secret
        self.stale_after = stale_after

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="agent-http", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: AgentServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        log.debug("http %s", format % args)

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, payload: dict[str, object]) -> None:
        self._send(status, json.dumps(payload) + "\n")

    def _error(self, status: int, reason: str, message: str) -> None:
        """The receivers' error shape: ``{"error": reason, "message": ...}`` (docs/errors.md)."""
        self._json(status, {"error": reason, "message": message})

    def do_GET(self) -> None:  # noqa: N802 - stdlib hook name
        last = self.server.last_pass()
        if self.path == "/healthz":
            stale = last and time.time() - last > self.server.stale_after
            self._json(503 if stale else 200, {"ok": not stale})
        elif self.path == "/readyz":
            self._json(200 if last else 503, {"ready": bool(last)})
        elif self.path == "/metrics":
            self._send(200, self.server.metrics(), "text/plain; version=0.0.4")
        else:
            self._error(404, "not-found", "no such path")

    def do_POST(self) -> None:  # noqa: N802 - stdlib hook name
        if self.path != "/hooks/git":
            self._error(404, "not-found", "no such path")
            return
        if not self.server.secret:
            self._error(404, "unknown-receiver", "the webhook is not configured")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._error(400, "malformed", "bad Content-Length")
            return
        if length > trigger.MAX_BODY:
            self.close_connection = True
            self._error(413, "body-too-large", f"the body exceeds {trigger.MAX_BODY} bytes")
            return
        body = self.rfile.read(length)
        try:
            push = trigger.verify(
                dict(self.headers.items()), body, self.server.secret, branch=self.server.branch
            )
        except WebhookRejected as error:
            log.warning("webhook refused: %s", error.reason)
            self._error(error.status, error.reason, str(error))
            return
        if not push.relevant:
            self._json(202, {"ignored": f"not a push to {self.server.branch}"})
            return
        log.info("push webhook from %s for %s: syncing", push.provider, push.ref)
        self.server.trigger()
        self._json(202, {"sync": "queued", "after": push.after})
