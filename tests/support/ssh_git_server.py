"""A real SSH git server on loopback for tests: asyncssh in front of the real ``git-upload-pack``.

It listens on 127.0.0.1 (random port unless one is given, so a test can swap the host key
behind the same address), authenticates only the public keys it is given, and for an exec of
``git-upload-pack '<path>'`` (or ``git-receive-pack``) runs that git program on a bare repo
under ``root``, piping stdin/stdout/stderr and the exit status. Any other command, and any path
outside ``root``, is refused. The asyncio loop runs in a daemon thread; ``close()`` stops it.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

T = TypeVar("T")
GIT_PROGRAMS = ("git-upload-pack", "git-receive-pack")
_CHUNK = 65536


class SshGitServer:
    def __init__(
        self,
        root: Path,
        authorized_keys: list[Path],
        *,
        host_key: asyncssh.SSHKey | None = None,
        port: int = 0,
    ) -> None:
        self.root = root.resolve()
        self.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        self.commands: list[str] = []  # every exec request seen, refused ones included
        self._authorized = "".join(p.read_text() for p in authorized_keys)
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._children: set[asyncio.subprocess.Process] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._acceptor = self._call(self._start(port))
        self.port = self._acceptor.get_port()

    @property
    def host_public_key(self) -> str:
        """The host key as an OpenSSH public key line body: ``ssh-ed25519 AAAA...``."""
        return " ".join(self.host_key.export_public_key("openssh").decode().split()[:2])

    def known_hosts_line(self) -> str:
        # ssh looks a non-default port up as "[host]:port", not "host".
        return f"[127.0.0.1]:{self.port} {self.host_public_key}\n"

    def url(self, rel: str) -> str:
        return f"ssh://git@127.0.0.1:{self.port}/{rel}"

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    # -- inside the loop ------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _start(self, port: int) -> asyncssh.SSHAcceptor:
        server = self

        class _Server(asyncssh.SSHServer):
            # Tracked so close() can end them: closing the listener leaves them open.
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                self.conn = conn
                server._connections.add(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                server._connections.discard(self.conn)

        return await asyncssh.create_server(
            _Server,
            "127.0.0.1",
            port,
            server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self._authorized),
            process_factory=self._serve,
            encoding=None,  # git's pack protocol is binary
            allow_pty=False,
            x11_forwarding=False,
            agent_forwarding=False,
        )

    async def _stop(self) -> None:
        self._acceptor.close()
        await self._acceptor.wait_closed()
        for child in list(self._children):
            if child.returncode is None:
                child.kill()
                await child.wait()
        for conn in list(self._connections):
            conn.close()
            await conn.wait_closed()

    def _resolve(self, command: str | None) -> list[str] | None:
        """``[program, repo dir]`` for an allowed command on a repo inside the root, else None."""
        try:
            argv = shlex.split(command or "")
        except ValueError:
            return None
        if len(argv) != 2 or argv[0] not in GIT_PROGRAMS:
            return None
        # ssh://host/cfg.git sends "/cfg.git": the path is relative to the served root.
        repo = (self.root / argv[1].lstrip("/")).resolve()
        if not repo.is_relative_to(self.root) or repo == self.root or not repo.is_dir():
            return None
        return [argv[0], str(repo)]

    async def _serve(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        self.commands.append(process.command or "")
        argv = self._resolve(process.command)
        if argv is None:
            process.stderr.write(
                b"refused: only git-upload-pack/git-receive-pack on a served repo\n"
            )
            process.exit(128)
            return
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1"}
        env["GIT_CONFIG_GLOBAL"] = os.devnull
        protocol = process.env.get("GIT_PROTOCOL")  # sent by git via SendEnv for protocol v2
        if protocol:
            env["GIT_PROTOCOL"] = protocol
        child = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        self._children.add(child)
        feeder = asyncio.create_task(_feed(process.stdin, child))
        try:
            assert child.stdout is not None and child.stderr is not None
            await asyncio.gather(
                _pump(child.stdout, process.stdout), _pump(child.stderr, process.stderr)
            )
            status = await child.wait()
        finally:
            feeder.cancel()
            self._children.discard(child)
        # Only after both output pipes are drained, so the client gets every byte first.
        process.exit(status)


async def _feed(src: asyncssh.SSHReader[bytes], child: asyncio.subprocess.Process) -> None:
    assert child.stdin is not None
    try:
        while data := await src.read(_CHUNK):
            child.stdin.write(data)
            await child.stdin.drain()
        child.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the git program exited first; its status tells the client why


async def _pump(src: asyncio.StreamReader, dst: asyncssh.SSHWriter[bytes]) -> None:
    while data := await src.read(_CHUNK):
        dst.write(data)
        await dst.drain()
