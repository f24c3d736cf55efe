"""SIGTERM drains the web process (issue 15 item 6): a delivery in flight when gunicorn (real,
``gunicorn_conf``, 2 workers) gets SIGTERM is still answered in full and queued, gunicorn exits
0, and nothing in its log is a traceback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.gunicorn_server import GunicornServer
from tests.support.redis_server import RedisServer
from tests.web.conftest import QUEUE, signed

BODY = (Path(__file__).resolve().parents[2] / "examples/webhooks/github-package.json").read_bytes()


@pytest.fixture
def server(
    tmp_path: Path, redis_server: RedisServer, secret_file: Path
) -> Iterator[GunicornServer]:
    config = tmp_path / "bumper.yaml"
    config.write_text(
        "apiVersion: bumper/v1\nreceivers:\n"
        f"  - name: gh\n    type: github\n    secret: {{file: {secret_file}}}\n"
        "    scope: {images: [ghcr.io/acme]}\n"
    )
    env = {
        "BUMPER_REDIS_URL": redis_server.url,
        "BUMPER_CONFIG_FILE": str(config),
        "BUMPER_QUEUE_NAME": QUEUE,
    }
    gunicorn = GunicornServer(tmp_path / "gunicorn", env, workers=2)
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


def test_a_request_in_flight_at_sigterm_gets_its_full_reply(
    server: GunicornServer, redis_client: redis.Redis
) -> None:
    headers, _ = signed(
        "github", BODY, headers={"X-GitHub-Event": "package", "X-GitHub-Delivery": "drain-1"}
    )
    head = f"POST /hooks/gh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(BODY)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    assert server.process is not None
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as client:
        client.sendall(head.encode() + BODY[:10])  # a slow sender: the body is not all here
        time.sleep(1.0)  # a worker has accepted it and waits for the rest
        server.process.terminate()  # SIGTERM to the arbiter, as Kubernetes sends it
        time.sleep(1.0)
        client.sendall(BODY[10:])
        reply = b""
        while chunk := client.recv(65536):  # the reply says Connection: close
            reply += chunk
    head_part, _, body = reply.partition(b"\r\n\r\n")
    assert head_part.startswith(b"HTTP/1.1 202 "), reply[:300]
    assert b"Connection: close" in head_part  # a draining worker closes kept-alive connections
    assert int(head_part.split(b"Content-Length: ")[1].split(b"\r\n")[0]) == len(body) > 0
    assert server.process.wait(timeout=60) == 0
    assert redis_client.llen(f"rq:queue:{QUEUE}") == 1  # queued, not lost
    assert "Traceback" not in server.log()
