"""Process plumbing for the test bed: where the binaries are, free ports, logged child processes.

Children are started with their own log file and stopped by pid (SIGTERM, then SIGKILL), never by
name. Nothing here knows about Kubernetes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "testbed" / "build.sh"
STAGES_DIR = REPO_ROOT / "testbed" / "stages"
PR_SET_PDEATHSIG = 1
T = TypeVar("T")


class ProcessDied(RuntimeError):
    """A component exited while we waited for it: no point polling on."""


class TestbedNotBuilt(RuntimeError):
    """The binaries are missing: `make testbed` has not run on this machine."""


def bin_dir() -> Path:
    """The per-version cache dir that ``testbed/build.sh`` fills (asks the script: one formula)."""
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--bin-dir"], capture_output=True, text=True, check=True
    )
    return Path(out.stdout.strip())


def require_binaries(names: list[str]) -> Path:
    directory = bin_dir()
    missing = [n for n in names if not os.access(directory / n, os.X_OK)]
    if missing:
        raise TestbedNotBuilt(
            f"test bed binaries missing in {directory}: {', '.join(missing)}; run `make testbed`"
        )
    return directory


def http_get(url: str, **kwargs: Any) -> requests.Response:
    """GET ignoring proxy/CA settings from the environment (everything here is on loopback)."""
    with requests.Session() as sess:
        sess.trust_env = False
        kwargs.setdefault("timeout", 5)
        return sess.get(url, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T | None], timeout: float, what: str, step: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except ProcessDied:
            raise
        except Exception as exc:  # noqa: BLE001 - polling: any other failure means "not yet"
            last = exc
        time.sleep(step)
    detail = f" (last error: {last})" if last else ""
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when pytest dies, even by SIGKILL (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Proc:
    """One child process whose stdout+stderr go to ``log_dir/<name>.log``."""

    def __init__(
        self, name: str, args: list[str], log_dir: Path, env: dict[str, str] | None = None
    ):
        self.name = name
        self.args = args
        self.log = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as fh:
            self.popen = subprocess.Popen(
                args,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # a Ctrl-C in pytest must not kill it mid-teardown
                preexec_fn=_die_with_parent,  # but a crashed pytest leaves no orphans
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise ProcessDied(
                f"{self.name} exited with {self.popen.returncode}; log tail:\n{tail(self.log)}"
            )

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive():
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def stop_all(procs: list[Proc]) -> None:
    """Reverse start order, so clients go before the servers they talk to."""
    for proc in reversed(procs):
        proc.stop()
