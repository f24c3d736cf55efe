"""A Redis primary, one replica and a Sentinel watching them, all real processes on loopback.

The Sentinel is the same ``redis-server`` binary in sentinel mode (``--sentinel``), so no
other package is needed. It declares the primary down after ``down_after_ms`` and promotes the
replica: ``kill_primary()`` then ``wait_promoted()`` is a failover as production sees one.
One Sentinel with quorum 1 is enough to exercise the clients; production runs three.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis

from tests.support.child_processes import die_with_parent
from tests.support.redis_server import RedisServer, free_port, redis_executable

SERVICE = "bumper"


class SentinelGroup:
    def __init__(
        self, workdir: Path, *, down_after_ms: int = 1000, sentinel_password: str | None = None
    ) -> None:
        """``sentinel_password``: the Sentinel requires it (``requirepass``) from clients."""
        self.workdir = workdir
        self.sentinel_password = sentinel_password
        self.down_after_ms = down_after_ms
        self.primary = RedisServer(workdir / "a")
        self.replica = RedisServer(
            workdir / "b", extra_args=("--replicaof", "127.0.0.1", str(self.primary.port))
        )
        self.sentinel_port = free_port()
        self.sentinel: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}/0"

    def servers(self) -> tuple[RedisServer, RedisServer]:
        return self.primary, self.replica

    def start(self) -> SentinelGroup:
        self.primary.start()
        self.replica.start()
        self._wait_replicated(self.replica)
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "sentinel.conf"  # Sentinel rewrites it: one per group
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
            f"sentinel failover-timeout {SERVICE} 4000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
            + (f"requirepass {self.sentinel_password}\n" if self.sentinel_password else "")
        )
        log = open(self.workdir / "sentinel.log", "ab")  # noqa: SIM115 - lives with the process
        self.sentinel = subprocess.Popen(
            [redis_executable(), str(conf), "--sentinel"],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.master_port() == self.primary.port:
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-sentinel did not start watching the primary")

    def master_port(self) -> int | None:
        """The primary's port as the Sentinel names it now, or None."""
        try:
            with socket.create_connection(("127.0.0.1", self.sentinel_port), timeout=0.5):
                pass
            client = redis.Redis(
                port=self.sentinel_port, socket_timeout=1, password=self.sentinel_password
            )
            reply = client.sentinel_get_master_addr_by_name(SERVICE)
            client.close()
        except (OSError, redis.RedisError):
            return None
        return int(reply[1]) if isinstance(reply, tuple | list) else None

    def _wait_replicated(self, server: RedisServer) -> None:
        client = redis.Redis(port=server.port, socket_timeout=1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if client.info("replication").get("master_link_status") == "up":
                client.close()
                return
            time.sleep(0.05)
        raise RuntimeError(f"replica on {server.port} did not sync")

    def kill_primary(self) -> RedisServer:
        """SIGKILL the current primary; returns it (``start()`` brings it back as a replica)."""
        current = self.primary if self.master_port() == self.primary.port else self.replica
        current.kill()
        return current

    def wait_promoted(self, old_port: int, timeout: float = 30.0) -> int:
        """Wait until the Sentinel names another primary than ``old_port``; its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.master_port()
            if port is not None and port != old_port:
                return port
            time.sleep(0.1)
        raise RuntimeError("Sentinel promoted no replica")

    def stop(self) -> None:
        if self.sentinel is not None:
            self.sentinel.terminate()
            self.sentinel.wait(timeout=10)
            self.sentinel = None
        self.replica.stop()
        self.primary.stop()
