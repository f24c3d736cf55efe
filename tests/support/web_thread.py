"""A WSGI app on a random loopback port, served by werkzeug in a thread (for HTTP clients that
need a real socket, such as the agent's reporter). ``stop`` and ``start`` again keep the port,
so a client can be shown an outage and a recovery."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from tests.support.redis_server import free_port


class ThreadedWeb:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
