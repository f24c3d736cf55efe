"""A real distribution registry: crane pushes, the registry POSTs a notification envelope."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.testbed import NOTIFY_MEDIA_TYPE, RegistryFactory


class Sink:
    """An HTTP endpoint on a random loopback port that records every POST it receives."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.received.put((dict(self.headers.items()), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, timeout: float) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
        while True:
            headers, body = self.received.get(timeout=timeout)
            yield headers, json.loads(body)


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.server.shutdown()
    s.server.server_close()


def test_crane_push_produces_a_real_notification(registry: RegistryFactory, sink: Sink) -> None:
    reg = registry(notify_url=sink.url, notify_headers={"Authorization": "Bearer s3cret"})
    digest = reg.push_image("team/app", "v1.2.3")
    assert digest.startswith("sha256:")

    # the registry serves what crane pushed
    assert reg.crane("ls", "--insecure", f"{reg.host}/team/app").stdout.split() == ["v1.2.3"]

    for headers, envelope in sink.events(timeout=30):
        assert headers["Content-Type"].startswith(NOTIFY_MEDIA_TYPE)
        assert headers["Authorization"] == "Bearer s3cret"
        pushes = [
            e
            for e in envelope["events"]
            if e["action"] == "push" and e["target"].get("tag") == "v1.2.3"
        ]
        if pushes:
            break
    target = pushes[0]["target"]
    assert target["repository"] == "team/app"
    assert target["digest"] == digest
    assert target["mediaType"] in {
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    }
    assert pushes[0]["request"]["host"] == reg.host
