"""The agent's keep-alive connections (``bumper.agent.transport``) against a real local HTTP/1.1
server: one write per request, reuse, and a connection the server closed while it sat idle."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bumper.agent import transport


class Recorder:
    """Stands in for a connected socket: keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sent.append(bytes(data))


def test_a_request_with_a_body_goes_out_in_one_write() -> None:
    conn = transport._OneWrite("127.0.0.1", 9)
    recorder = Recorder()
    conn.sock = recorder
    body = b'{"kind":"ConfigMap"}'
    conn.request("PATCH", "/api/v1/x?force=true", body=body, headers={"Accept": "a/b"})
    assert len(recorder.sent) == 1
    assert recorder.sent[0].startswith(b"PATCH /api/v1/x?force=true HTTP/1.1\r\n")
    assert b"\r\nContent-Length: 20\r\n" in recorder.sent[0]
    assert recorder.sent[0].endswith(b"\r\n\r\n" + body)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    peers: list[int] = []
    targets: list[str] = []
    open_connections: list[socket.socket] = []

    def do_PATCH(self) -> None:  # noqa: N802 - the stdlib's name
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        self.peers.append(self.client_address[1])
        self.targets.append(self.path)
        self.open_connections.append(self.connection)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    Handler.peers, Handler.targets, Handler.open_connections = [], [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def pool_for(httpd: ThreadingHTTPServer) -> transport.Pool:
    return transport.Pool(f"http://127.0.0.1:{httpd.server_address[1]}", context=None, size=2)


def send(pool: transport.Pool, body: bytes) -> tuple[int, bytes]:
    return pool.send("PATCH", "/x", body=body, headers={}, timeout=5)


def test_an_idle_connection_is_reused(server: ThreadingHTTPServer) -> None:
    pool = pool_for(server)
    assert send(pool, b"one") == (200, b"one")
    assert send(pool, b"two") == (200, b"two")
    assert Handler.peers[0] == Handler.peers[1]  # the same client port: one connection
    pool.close()


def test_a_connection_the_server_closed_while_idle_is_replaced(
    server: ThreadingHTTPServer,
) -> None:
    pool = pool_for(server)
    assert send(pool, b"one") == (200, b"one")
    Handler.open_connections[0].shutdown(socket.SHUT_RDWR)  # as a restarting API server does
    time.sleep(0.2)  # the FIN reaches the client's socket
    assert send(pool, b"two") == (200, b"two")  # no error: a new connection carried it
    assert Handler.peers[0] != Handler.peers[1]
    pool.close()


def test_a_plain_http_server_behind_a_proxy_is_asked_for_in_absolute_form(
    server: ThreadingHTTPServer,
) -> None:
    """The local server plays the proxy: it is the one connected to, and the request line
    names the API server (an HTTPS server is reached through a CONNECT tunnel instead)."""
    proxy = f"http://127.0.0.1:{server.server_address[1]}"
    pool = transport.Pool("http://api.cluster.example:8080", context=None, size=1, proxy=proxy)
    assert send(pool, b"via proxy") == (200, b"via proxy")
    assert Handler.targets == ["http://api.cluster.example:8080/x"]
    pool.close()
