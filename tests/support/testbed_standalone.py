"""The test bed outside pytest: ``make testbed-up`` / ``make testbed-down`` (docs/testbed.md).

The same code as the fixtures starts it (``testbed_cluster.start_cluster("full")``, a
``Registry``, ``testbed_node.node_session``), run by a detached supervisor process that owns
them: the components die with it (their parent-death signal), and its SIGTERM handler stops the
node (restoring the host, ``testbed/node.sh stop``), the registry and the control plane.

State lives in one directory, ``<test bed cache>/<version>/standalone`` (one per host and version,
like the node; ``BUMPER_TESTBED_STATE`` moves it, for tests): ``supervisor.pid``,
``supervisor.log``, ``kubeconfig`` and ``state.json`` (written once everything is up).

    python -m tests.support.testbed_standalone up [--no-node]   # idempotent
    python -m tests.support.testbed_standalone down             # idempotent
    python -m tests.support.testbed_standalone status           # exit 0 when up
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.support import testbed_cluster, testbed_node, testbed_proc
from tests.support.testbed_proc import REPO_ROOT
from tests.support.testbed_registry import Registry

MODULE = "tests.support.testbed_standalone"
START_TIMEOUT = 900.0  # a cold node start imports CoreDNS and waits for its Deployment
STOP_TIMEOUT = 300.0
CONTROL_PLANE = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
CLIENTS = ["kubectl", "helm", "registry", "crane"]
NODE = ["kubelet", "kube-proxy", "pause", "hello", "coredns"]


class StandaloneError(RuntimeError):
    """A one-line reason for the user (no traceback)."""


@dataclass
class State:
    """What ``state.json`` holds once the test bed is up."""

    pid: int
    kubeconfig: str
    server: str
    registry: str
    node: str | None  # the node's name, or None when started with --no-node
    node_ip: str | None
    logs: str

    @property
    def registry_port(self) -> str:
        return self.registry.rsplit(":", 1)[-1]


def state_dir() -> Path:
    override = os.environ.get("BUMPER_TESTBED_STATE")
    if override:
        return Path(override)
    return testbed_proc.bin_dir().parent / "standalone"


def _pid_is_supervisor(pid: int) -> bool:
    """Alive and still our supervisor (a recycled pid runs something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return alive(pid) and MODULE.encode() in cmdline and b"serve" in cmdline


def supervisor_pid(directory: Path) -> int | None:
    """The live supervisor's pid for ``directory``, or None."""
    try:
        pid = int((directory / "supervisor.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_is_supervisor(pid) else None


def read_state(directory: Path) -> State | None:
    """The state of a test bed that is up in ``directory`` (supervisor alive), or None."""
    try:
        state = State(**json.loads((directory / "state.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return state if supervisor_pid(directory) == state.pid else None


def node_in_use_message() -> str | None:
    """Why the session fixture must not start the node (a standalone one is up), or None."""
    try:
        state = read_state(state_dir())
    except (OSError, subprocess.CalledProcessError):
        return None
    if state is None or state.node is None:
        return None
    return (
        f"a standalone test bed's real node is up ({state.kubeconfig}): "
        "run `make testbed-down` first"
    )


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One ``up``/``down`` at a time per state directory (a second waits for the first)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _describe(state: State) -> str:
    lines = [
        f"export KUBECONFIG={state.kubeconfig}",
        f"# API server {state.server}; registry {state.registry} (plain HTTP)",
    ]
    if state.node:
        lines.append(
            f"# node {state.node} at {state.node_ip}; it pulls localhost:{state.registry_port}/..."
        )
        lines.append(f"# node logs {testbed_node.NODE_LOGS}")
    lines.append(f"# logs {state.logs}; stop with `make testbed-down`")
    return "\n".join(lines)


def up(directory: Path, node: bool) -> State:
    """Start the test bed unless it is up; returns its state. Idempotent."""
    with _locked(directory):
        state = read_state(directory)
        if state is not None:
            if node and state.node is None:
                raise StandaloneError(
                    "the test bed is up without the node: `make testbed-down`, then start it again"
                )
            return state
        _cleanup_dead(directory)
        return _spawn(directory, node)


def _spawn(directory: Path, node: bool) -> State:
    testbed_proc.require_binaries(CONTROL_PLANE + CLIENTS + (NODE if node else []))
    directory.mkdir(parents=True)
    log = directory / "supervisor.log"
    args = [sys.executable, "-m", MODULE, "serve", str(directory)]
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [*args, "--node"] if node else args,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command and its terminal
        )
    (directory / "supervisor.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        state = read_state(directory)
        if state is not None:
            return state
        if proc.poll() is not None:
            reason = _last_line(directory / "failed") or f"exited {proc.returncode}"
            kept = directory.parent / f"{directory.name}-failed.log"  # the state dir goes
            shutil.copy(log, kept)
            _cleanup_dead(directory)
            raise StandaloneError(f"the test bed failed to start: {reason} (log: {kept})")
        time.sleep(0.3)
    _stop(directory)
    raise StandaloneError(f"the test bed did not start within {START_TIMEOUT:.0f}s")


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text().strip().splitlines()
    except OSError:
        return ""
    return lines[0] if lines else ""


def down(directory: Path) -> bool:
    """Stop the test bed; False when it was not up. Idempotent."""
    with _locked(directory):
        if not directory.exists():
            return False
        _stop(directory)
        return True


def _stop(directory: Path) -> None:
    pid = supervisor_pid(directory)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pid_is_supervisor(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_is_supervisor(pid):
            os.kill(pid, signal.SIGKILL)
    _cleanup_dead(directory)


def _cleanup_dead(directory: Path) -> None:
    """What a supervisor killed hard leaves: the node (host settings), etcd's tmpfs dir, state."""
    if not directory.exists() or supervisor_pid(directory) is not None:
        return
    # Its components got SIGTERM when it died (parent-death signal), but kube-apiserver waits
    # forever for an etcd that died at the same moment: kill what is left. The node has no
    # parent-death signal at all (node.sh daemons): stop it, restoring the host.
    _kill_components(directory)
    if (directory / "node").exists():
        _stop_orphaned_node()
    for marker in directory.glob("cluster/try*/.etcd-data"):
        data = Path(marker.read_text())
        if data.is_relative_to("/dev/shm"):
            shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(directory, ignore_errors=True)


def _stop_orphaned_node() -> None:
    """Stop the node a dead supervisor left, unless a test session has taken the host's node."""
    testbed_node.SESSION_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with testbed_node.SESSION_LOCK.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # that session's node_session stopped ours before it started its own
        testbed_node.stop_node()


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot: with the pid, it names one process."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19]


def _record_components(directory: Path, procs: list[testbed_proc.Proc]) -> None:
    """Who each component is, for `down` after the supervisor was killed hard."""
    lines = "".join(f"{p.pid} {_start_time(p.pid)} {p.args[0]}\n" for p in procs)
    tmp = directory / "components.tmp"
    tmp.write_text(lines)
    tmp.rename(directory / "components")


def _kill_components(directory: Path) -> None:
    try:
        lines = (directory / "components").read_text().splitlines()
    except OSError:
        return
    for line in lines:
        pid_text, started, _exe = line.split(" ", 2)
        pid = int(pid_text)
        try:  # still that process: pids are reused, by other test beds' etcd too
            if _start_time(pid) != started:
                continue
            os.kill(pid, signal.SIGKILL)
        except (OSError, IndexError):
            continue
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan stays one until init reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def serve(directory: Path, node: bool) -> int:
    """The supervisor: start everything, write state.json, wait for SIGTERM, stop everything."""
    stopping = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        with contextlib.ExitStack() as stack:
            state = _start_all(directory, node, stack)
            tmp = directory / "state.json.tmp"
            tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
            tmp.rename(directory / "state.json")
            print(f"up: {state.server}", flush=True)
            while not stopping:  # the handler sets it; sleep returns within a second
                time.sleep(1)
            print("stopping", flush=True)
            (directory / "state.json").unlink()
    except BaseException as exc:
        text = str(exc).strip()
        # One line for `up` to print; the log tails that follow it stay in supervisor.log.
        first = text.splitlines()[0].split("; log tail:")[0] if text else type(exc).__name__
        (directory / "failed").write_text(first + "\n")
        print(f"failed: {exc}", flush=True)
        return 1
    print("stopped", flush=True)
    return 0


def _start_all(directory: Path, node: bool, stack: contextlib.ExitStack) -> State:
    bins = testbed_proc.bin_dir()
    # Last out: once everything stopped, nothing is left for `down` to kill by pid.
    stack.callback((directory / "components").unlink, missing_ok=True)
    cluster = testbed_cluster.start_cluster("full", bins, directory / "cluster")
    stack.callback(testbed_cluster.stop_cluster, cluster)
    _record_components(directory, cluster.procs)
    kubeconfig = directory / "kubeconfig"
    shutil.copy(cluster.kubeconfig, kubeconfig)
    kubeconfig.chmod(0o600)
    registry = Registry(bins, directory / "registry")
    registry.start()
    stack.callback(registry.stop)
    assert registry.proc is not None
    _record_components(directory, [*cluster.procs, registry.proc])
    node_name = node_ip = None
    if node:
        the_node = stack.enter_context(
            testbed_node.node_session(cluster, directory / "node", wait=0)
        )
        the_node.forward(registry.port)
        node_name, node_ip = the_node.name, the_node.ip
    return State(
        pid=os.getpid(),
        kubeconfig=str(kubeconfig),
        server=cluster.server,
        registry=registry.host,
        node=node_name,
        node_ip=node_ip,
        logs=str(cluster.log_dir),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="testbed", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start the control plane, a registry and the real node")
    p_up.add_argument("--no-node", action="store_true", help="no real node (no root needed)")
    sub.add_parser("down", help="stop everything, restoring the host's settings")
    sub.add_parser("status", help="exit 0 when up")
    p_serve = sub.add_parser("serve", help=argparse.SUPPRESS)
    p_serve.add_argument("directory", type=Path)
    p_serve.add_argument("--node", action="store_true")
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        return serve(args.directory, args.node)
    try:
        directory = state_dir()
        if args.cmd == "up":
            already = read_state(directory) is not None
            state = up(directory, node=not args.no_node)
            print(("# already up\n" if already else "") + _describe(state))
        elif args.cmd == "down":
            print("testbed: stopped" if down(directory) else "testbed: not up")
        else:
            status = read_state(directory)
            print(_describe(status) if status else "testbed: not up")
            return 0 if status else 1
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the supervisor, in its own session, goes on
        print("testbed: interrupted; `make testbed-down` stops what started", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
