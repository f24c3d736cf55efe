"""A TCP forwarder on a loopback port that can refuse connections: a remote that goes away.

``TcpGate(target_port)`` listens on its own port and pipes every connection to the target.
``close()`` stops listening and cuts the connections in flight, so a client gets what it gets
from a host whose service is down: ``ECONNREFUSED`` (nothing listens) or a reset. ``open()``
listens again on the same port. Test support only: no TLS, no parsing, loopback only.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support.redis_server import free_port

CHUNK = 65536


class TcpGate:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.live: set[socket.socket] = set()
        self.accepted = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> TcpGate:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)  # so the accept loop sees close() promptly
        with self.lock:
            self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def close(self) -> None:
        """Refuse new connections and reset the open ones."""
        with self.lock:
            listener, self.listener = self.listener, None
            live, self.live = self.live, set()
        if listener is not None:
            listener.close()
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            with self.lock:
                if self.listener is not listener:
                    return
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self.accepted += 1
                self.live.update((client, upstream))
            done = threading.Semaphore(0)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink, done), daemon=True).start()
            threading.Thread(target=self._reap, args=(client, upstream, done), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, done: threading.Semaphore) -> None:
        source.settimeout(None)
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            done.release()

    def _reap(
        self, client: socket.socket, upstream: socket.socket, done: threading.Semaphore
    ) -> None:
        """Close a connection's two sockets once both directions ended."""
        done.acquire()
        done.acquire()
        with self.lock:
            self.live.discard(client)
            self.live.discard(upstream)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.close()
