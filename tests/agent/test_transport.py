"""The agent's keep-alive connections (``bumper.agent.transport``) against a real local HTTP/1.1
server: one write per request, each framing of a reply, reuse, and a connection the server closed
while it sat idle."""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bumper.agent import transport


class Recorder:
    """A connected socket that keeps what is sent through it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sent: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sent.append(bytes(data))
        self.sock.sendall(data)

    def settimeout(self, timeout: float) -> None:
        self.sock.settimeout(timeout)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


def test_a_request_with_a_body_goes_out_in_one_write() -> None:
    client, server = socket.socketpair()
    recorder = Recorder(client)
    conn = transport._Conn(http.client.HTTPConnection("127.0.0.1", 9))
    conn.setup.sock = recorder
    conn.reader = client.makefile("rb")
    pool = transport.Pool("http://127.0.0.1:9", context=None, size=1)
    pool._idle.append(conn)
    body = b'{"kind":"ConfigMap"}'

    def reply() -> None:
        received = b""
        while not received.endswith(body):
            received += server.recv(65536)
        server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=reply, daemon=True)
    thread.start()
    answer = pool.send("PATCH", "/api/v1/x?force=true", body=body, headers={"A": "b"}, timeout=5)
    assert answer == (200, b"ok")
    assert len(recorder.sent) == 1
    assert recorder.sent[0].startswith(b"PATCH /api/v1/x?force=true HTTP/1.1\r\n")
    assert b"\r\nContent-Length: 20\r\n" in recorder.sent[0]
    assert recorder.sent[0].endswith(b"\r\n\r\n" + body)
    pool.close()
    server.close()


def test_a_header_or_target_that_would_split_the_request_is_refused() -> None:
    pool = transport.Pool("http://127.0.0.1:9", context=None, size=1)
    with pytest.raises(ValueError):
        pool.send("GET", "/x", body=None, headers={"Authorization": "a\r\nX: y"}, timeout=5)
    with pytest.raises(http.client.InvalidURL):
        pool.send("GET", "/x HTTP/1.1\r\nX: y", body=None, headers={}, timeout=5)


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

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        """Replies framed each way HTTP/1.1 allows, written as they are on the wire."""
        self.peers.append(self.client_address[1])
        self.wfile.write(RAW_REPLIES[self.path])
        if self.path == "/until-close":
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


RAW_REPLIES = {
    "/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n",
    "/interim": b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nmade",
    "/close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye",
    "/until-close": b"HTTP/1.1 200 OK\r\n\r\nthe rest",
    "/empty": b"HTTP/1.1 204 No Content\r\nX-Other: 1\r\n\r\n",
}


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


@pytest.mark.parametrize(
    ("path", "status", "body", "reused"),
    [
        ("/chunked", 200, b"hello, world", True),
        ("/interim", 201, b"made", True),
        ("/empty", 204, b"", True),
        ("/close", 200, b"bye", False),
        ("/until-close", 200, b"the rest", False),
    ],
)
def test_each_framing_of_a_reply_is_read_whole_and_decides_reuse(
    server: ThreadingHTTPServer, path: str, status: int, body: bytes, reused: bool
) -> None:
    pool = pool_for(server)
    assert pool.send("GET", path, body=None, headers={}, timeout=5) == (status, body)
    assert send(pool, b"next") == (200, b"next")
    assert (Handler.peers[0] == Handler.peers[1]) is reused
    pool.close()


def reply_of(raw: bytes) -> tuple[int, bytes, bool]:
    return transport._reply(io.BufferedReader(io.BytesIO(raw)))


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of 8 bytes, bodies of at most 64: the same code paths as 16 MiB and 1 GiB."""
    monkeypatch.setattr(transport, "_PIECE", 8)
    monkeypatch.setattr(transport, "_MAX_BODY", 64)


def test_a_huge_content_length_is_refused_without_reserving_memory_for_it() -> None:
    # Before: BufferedReader.read(10**15) asked for a petabyte at once (MemoryError).
    with pytest.raises(http.client.HTTPException, match="over"):
        reply_of(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000\r\n\r\nabc")


@pytest.mark.usefixtures("small_limits")
def test_a_body_larger_than_a_piece_is_read_whole_in_pieces() -> None:
    body = bytes(range(40))
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + body
    assert reply_of(raw) == (200, body, False)
    with pytest.raises(http.client.IncompleteRead):  # the connection ends before its length
        reply_of(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n" + body)


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n" + b"x" * 65,
        b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 65,  # until the connection closes
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"20\r\n"
        + b"x" * 32
        + b"\r\n"
        + b"21\r\n"
        + b"x" * 33
        + b"\r\n0\r\n\r\n",
    ],
    ids=["content-length", "until-close", "chunked"],
)
def test_a_body_over_the_bound_is_refused(raw: bytes) -> None:
    with pytest.raises(http.client.HTTPException, match="over"):
        reply_of(raw)


@pytest.mark.parametrize("length", [b"-5", b"+5", b"5x", b""])
def test_a_content_length_that_is_not_digits_is_refused(length: bytes) -> None:
    # Before: int(b"-5") made read(-5), which reads to the end of the connection.
    with pytest.raises(http.client.HTTPException, match="bad Content-Length"):
        reply_of(b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\nhello")


@pytest.mark.parametrize("size", [b"-1", b"0x5", b"+5", b""])
def test_a_chunk_size_that_is_not_hex_digits_is_refused(size: bytes) -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\nhello\r\n0\r\n\r\n"
    )
    with pytest.raises(http.client.IncompleteRead):
        reply_of(raw)


def test_chunk_extensions_and_whitespace_still_frame_a_chunk() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 ;ext=1\r\nhello\r\n0\r\n\r\n"
    assert reply_of(raw) == (200, b"hello", False)
