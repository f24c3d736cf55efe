"""Clients that send a request slowly: for tests/web/test_serving.py and bench/slow_clients.py.

Each connection sends the start of a ``POST`` to a hook and then stalls, in one of three ways
(``KINDS``): its headers never end, its chunked body never ends, or its ``Content-Length``
body never arrives. ``SlowClients`` holds many of them, tells which ones the server answered
or closed, and can open replacements, as an attacker would.
"""

from __future__ import annotations

import resource
import select
import socket

_HEAD = b"POST /hooks/gh HTTP/1.1\r\nHost: bumper\r\nContent-Type: application/json\r\n"
KINDS: dict[str, bytes] = {
    "slow-headers": _HEAD + b"X-GitHub-Event: package\r\nX-Slow: ",
    "slow-chunked": _HEAD + b'Transfer-Encoding: chunked\r\n\r\n40\r\n{"slow": ',
    "slow-length": _HEAD + b'Content-Length: 4096\r\n\r\n{"slow": ',
}


def allow_open_files(count: int) -> None:
    """Raise this process's soft limit on open files to hold ``count`` sockets (and its own)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


class SlowClients:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sockets: list[tuple[str, socket.socket]] = []

    def open(self, count: int) -> None:
        """Open ``count`` connections, the kinds in turn, each stalled after its first bytes."""
        allow_open_files(len(self.sockets) + count)
        kinds = list(KINDS)
        for index in range(count):
            kind = kinds[(len(self.sockets) + index) % len(kinds)]
            self.sockets.append((kind, self._connect(kind)))

    def _connect(self, kind: str) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall(KINDS[kind])
        sock.setblocking(False)
        return sock

    def answered(self) -> dict[int, bytes]:
        """The connections the server wrote to or closed: index → what it sent (b"" if only
        closed). Reads without waiting."""
        poller = select.poll()
        for _, sock in self.sockets:
            poller.register(sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
        by_fd = {sock.fileno(): index for index, (_, sock) in enumerate(self.sockets)}
        found: dict[int, bytes] = {}
        for fd, _ in poller.poll(0):
            found[by_fd[fd]] = self._drain(self.sockets[by_fd[fd]][1])
        return found

    @staticmethod
    def _drain(sock: socket.socket) -> bytes:
        data = b""
        while True:
            try:
                chunk = sock.recv(65_536)
            except (BlockingIOError, InterruptedError):
                return data
            except OSError:
                return data
            if not chunk:
                return data
            data += chunk

    def reconnect(self) -> int:
        """Replace every connection the server answered or closed; how many were replaced."""
        replaced = self.answered()
        for index in replaced:
            kind, sock = self.sockets[index]
            sock.close()
            self.sockets[index] = (kind, self._connect(kind))
        return len(replaced)

    def close(self) -> None:
        for _, sock in self.sockets:
            sock.close()
        self.sockets = []
