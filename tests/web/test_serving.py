"""The real gunicorn (``gunicorn_conf``) against slow and malformed clients (issue 13, items 1
and 12): 1,000 slow connections hold no thread, deadlines answer 408, the connection bound
makes room for new clients, a body cut short is a client error, and no log line carries a
URL token."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis
import requests

from bumper.web import intake
from tests.sources.helpers import fixture
from tests.support.gunicorn_server import GunicornServer
from tests.support.redis_server import RedisServer
from tests.support.slow_clients import KINDS, SlowClients
from tests.web.conftest import QUEUE, SECRET, signed


def _config(directory: Path) -> Path:
    secret = directory / "webhook-secret"
    secret.write_text(SECRET + "\n")
    config = directory / "bumper.yaml"
    config.write_text(
        "apiVersion: bumper/v1\n"
        "receivers:\n"
        f"  - {{name: gh, type: github, secret: {{file: {secret}}}}}\n"
        f"  - {{name: hub, type: dockerhub, secret: {{file: {secret}}}}}\n"
    )
    return config


def _server(directory: Path, redis_server: RedisServer, workers: int, **env: str) -> GunicornServer:
    settings = {
        "BUMPER_REDIS_URL": redis_server.url,
        "BUMPER_CONFIG_FILE": str(_config(directory)),
        "BUMPER_QUEUE_NAME": QUEUE,
        **env,
    }
    return GunicornServer(directory / "gunicorn", settings, workers=workers)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[GunicornServer]:
    """The default settings, 2 workers."""
    with _server(tmp_path_factory.mktemp("serving"), redis_server, workers=2) as gunicorn:
        yield gunicorn


def _deliver(shared_dir: Path, server: GunicornServer, delivery: str) -> requests.Response:
    """A signed GitHub delivery, its body distinct too (a dedupe key may be the body hash)."""
    payload = json.loads(fixture(shared_dir, "github", "package.published.docker.json")[1])
    body = json.dumps({**payload, "bumper_test_delivery": delivery}).encode()
    headers, _ = signed(
        "github", body, headers={"X-GitHub-Event": "package", "X-GitHub-Delivery": delivery}
    )
    return requests.post(f"{server.url}/hooks/gh", data=body, headers=headers, timeout=10)


def _exchange(server: GunicornServer, request: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes, read the reply until the server closes (or 10 s pass)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        reply = b""
        try:
            while chunk := sock.recv(65_536):
                reply += chunk
                if b"\r\n\r\n" in reply and not half_close and _complete(reply):
                    break
        except ConnectionResetError:
            pass
        return reply


def _complete(reply: bytes) -> bool:
    head, _, body = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def test_a_thousand_slow_clients_hold_no_thread_and_healthz_and_hooks_are_served(
    shared_dir: Path, server: GunicornServer, redis_client: redis.Redis
) -> None:
    slow = SlowClients(server.port)
    try:
        slow.open(1000)
        assert {kind for kind, _ in slow.sockets} == set(KINDS)
        for attempt in range(3):
            assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
            accepted = _deliver(shared_dir, server, f"slow-{attempt}")
            assert accepted.status_code == 202, accepted.text
            job_ids = accepted.json()["events"]
            queued = cast(list[bytes], redis_client.lrange(intake.RQ_QUEUE_PREFIX + QUEUE, 0, -1))
            assert set(job_ids) <= {raw.decode() for raw in queued}
        # Served while the slow clients were held, not by dropping them.
        assert slow.answered() == {}
    finally:
        slow.close()


def test_slow_clients_are_answered_408_and_closed_at_their_deadline(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    gunicorn = _server(
        tmp_path,
        redis_server,
        workers=1,
        BUMPER_WEB__HEADER_TIMEOUT_SECONDS="0.5",
        BUMPER_WEB__BODY_TIMEOUT_SECONDS="0.5",
    )
    gunicorn.start()
    slow = SlowClients(gunicorn.port)
    try:
        slow.open(len(KINDS))
        for kind, sock in slow.sockets:
            sock.settimeout(10)
            reply = sock.recv(65_536)
            assert _status(reply) == 408, (kind, reply)
            assert json.loads(reply.partition(b"\r\n\r\n")[2])["error"] == "request-timeout"
            assert sock.recv(65_536) == b"", kind  # and closed
    finally:
        slow.close()
        gunicorn.stop()


def test_at_the_connection_bound_the_oldest_slow_client_makes_room(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    gunicorn = _server(tmp_path, redis_server, workers=1, BUMPER_WEB__MAX_CONNECTIONS="10")
    gunicorn.start()
    slow = SlowClients(gunicorn.port)
    try:
        slow.open(30)
        assert requests.get(f"{gunicorn.url}/healthz", timeout=10).status_code == 200
        answered = slow.answered()
        # The oldest went first; each got 503 server-busy (or only the close, if it came
        # while the answer was in flight).
        assert len(answered) >= 20
        assert min(answered) == 0 and 29 not in answered
        assert all(_status(reply) in (0, 503) for reply in answered.values())
        assert any(b'"server-busy"' in reply for reply in answered.values())
    finally:
        slow.close()
        gunicorn.stop()


TRUNCATED = (
    b"POST /hooks/gh HTTP/1.1\r\nHost: bumper\r\nContent-Type: application/json\r\n"
    b"X-GitHub-Event: package\r\nTransfer-Encoding: chunked\r\n\r\n"
)


@pytest.mark.parametrize(
    ("request_bytes", "half_close"),
    [
        (TRUNCATED + b'40\r\n{"action": "published"', True),  # body cut short
        (TRUNCATED + b"40\r\n", True),  # cut right after a chunk size
        (TRUNCATED + b"zz\r\n{}\r\n0\r\n\r\n", False),  # a chunk size that is not hex
        (TRUNCATED + b"2\r\n{}XX0\r\n\r\n", False),  # a chunk without its CRLF
        (TRUNCATED.replace(b"chunked", b"gzip, chunked") + b"0\r\n\r\n", False),
    ],
    ids=["cut-in-chunk", "cut-after-size", "bad-size", "no-terminator", "other-coding"],
)
def test_a_truncated_or_malformed_chunked_body_is_a_client_error(
    server: GunicornServer, request_bytes: bytes, half_close: bool
) -> None:
    reply = _exchange(server, request_bytes, half_close=half_close)
    # A 400-class answer, or at least a clean close; never a 5xx.
    assert reply == b"" or 400 <= _status(reply) < 500, reply
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert not [line for line in lines if line["level"] == "error"]
    assert not [line for line in lines if "internal" in json.dumps(line)]


def test_a_malformed_request_line_never_logs_its_url_token(server: GunicornServer) -> None:
    token = "UrlTokenInTheRequestLine0123456789"
    malformed = [
        b"GET /hooks/hub?token=%s\r\n\r\n",  # no HTTP version
        b"POST /hooks/hub/%s HTTP/1.1 extra\r\n\r\n",  # a path token, one field too many
        b"POST /hooks/hub?token=%s HTTP/9.9\r\n\r\n",
        b"P@ST /hooks/hub?token=%s HTTP/1.1\r\n\r\n",
        b"POST http://bumper/hooks/hub/%s HTTP/1.1 x\r\n\r\n",
        b"POST /hooks/hub?access_token=%s\tHTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for line in malformed:
        reply = _exchange(server, line % token.encode())
        assert 400 <= _status(reply) < 500, reply
    assert "Invalid request" in server.log()  # gunicorn did log them
    assert token not in server.log()
