"""The standalone test bed (``make testbed-up`` / ``make testbed-down``), run as a user runs it.

Each test gets its own state directory (``BUMPER_TESTBED_STATE``), so a test bed a user has up
on this host is never touched. The control-plane tests need no root; the one that joins the
real node is marked ``node`` (and ``standalone_node``: it runs before ``kube_node`` takes the
host's node lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import testbed_standalone
from tests.support.testbed import FULL, NODE, _bins
from tests.support.testbed_cluster import placement
from tests.support.testbed_node import NODE_NAME, SESSION_LOCK, node_sh
from tests.support.testbed_proc import REPO_ROOT, http_get, wait_until

BINARIES = [*FULL, "registry", "crane"]


def _cli(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", testbed_standalone.MODULE, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "BUMPER_TESTBED_STATE": str(state), **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _kubectl(state: dict[str, Any], tmp_path: Path, *args: str) -> str:
    out = subprocess.run(
        [str(_bins(["kubectl"]) / "kubectl"), *args],
        env={
            **os.environ,
            "KUBECONFIG": state["kubeconfig"],
            "KUBECACHEDIR": str(tmp_path / "kube-cache"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _state(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "state.json").read_text())
    return data


def test_up_twice_is_one_control_plane_that_down_stops_without_leftovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bins(BINARIES)
    directory = tmp_path / "standalone"
    first = _cli(directory, "up", "--no-node")
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        state = _state(directory)
        assert f"export KUBECONFIG={state['kubeconfig']}" in first.stdout
        assert state["node"] is None
        namespaces = _kubectl(state, tmp_path, "get", "ns", "-o", "name").split()
        assert {"namespace/default", "namespace/kube-system"} <= set(namespaces)
        assert http_get(f"http://{state['registry']}/v2/").status_code == 200
        supervisor = int(state["pid"])
        components = _children(supervisor)
        # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, registry
        assert len(components) == 6, components

        again = _cli(directory, "up", "--no-node")
        assert again.returncode == 0, again.stderr
        assert again.stdout.startswith("# already up")
        assert _state(directory)["pid"] == state["pid"]
        assert _children(supervisor) == components
        assert _cli(directory, "status").returncode == 0
        with_node = _cli(directory, "up")
        assert with_node.returncode == 1
        assert with_node.stderr.strip() == (
            "testbed: the test bed is up without the node: `make testbed-down`, then start it again"
        )
        # Only the node is one per host: a control plane alone never blocks the session fixture.
        monkeypatch.setenv("BUMPER_TESTBED_STATE", str(directory))
        assert testbed_standalone.node_in_use_message() is None
        # With the node (its name in state.json; the supervisor never reads it back), the
        # session fixture refuses, naming the way out: checked here without starting a node.
        (directory / "state.json").write_text(json.dumps({**state, "node": NODE_NAME}))
        message = testbed_standalone.node_in_use_message()
        assert message is not None and message.endswith("run `make testbed-down` first")
        assert "\n" not in message
        (directory / "state.json").write_text(json.dumps(state))
        etcd_dirs = [Path(m.read_text()) for m in directory.glob("cluster/try*/.etcd-data")]
        assert etcd_dirs
    finally:
        down = _cli(directory, "down")
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == "testbed: stopped"
    assert not directory.exists()
    assert not [pid for pid in {supervisor, *components} if testbed_standalone.alive(pid)]
    assert not [d for d in etcd_dirs if d.exists()]
    assert _cli(directory, "down").stdout.strip() == "testbed: not up"
    status = _cli(directory, "status")
    assert (status.returncode, status.stdout.strip()) == (1, "testbed: not up")


def test_a_supervisor_killed_hard_takes_its_components_and_up_starts_afresh(
    tmp_path: Path,
) -> None:
    _bins(BINARIES)
    directory = tmp_path / "standalone"
    assert _cli(directory, "up", "--no-node").returncode == 0
    try:
        old = int(_state(directory)["pid"])
        components = _children(old)
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: not testbed_standalone.alive(old), 30, "the supervisor to die")
        assert _cli(directory, "status").returncode == 1
        restarted = _cli(directory, "up", "--no-node")
        assert restarted.returncode == 0, restarted.stderr
        assert "already up" not in restarted.stdout
        # Some die with it (parent-death signal); `up` killed the rest before it started anew.
        assert not [p for p in components if testbed_standalone.alive(p)]
        state = _state(directory)
        assert int(state["pid"]) != old
        assert "namespace/default" in _kubectl(state, tmp_path, "get", "ns", "-o", "name")
    finally:
        assert _cli(directory, "down").returncode == 0
    assert not directory.exists()


def test_up_without_binaries_is_one_line(tmp_path: Path) -> None:
    result = _cli(
        tmp_path / "standalone", "up", "--no-node", BUMPER_TESTBED_CACHE=str(tmp_path / "empty")
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "run `make testbed`" in result.stderr
    assert not (tmp_path / "standalone").exists()


def test_a_component_that_fails_is_one_line_and_leaves_nothing_running(tmp_path: Path) -> None:
    # The real binaries but an etcd that exits: the control plane never comes up.
    real = _bins(BINARIES)
    cache = tmp_path / "cache"
    fake = cache / real.parent.name / "bin"
    fake.mkdir(parents=True)
    for tool in real.iterdir():
        (fake / tool.name).symlink_to(tool)
    (fake / "etcd").unlink()
    (fake / "etcd").write_text("#!/bin/sh\necho 'etcd: no disk today' >&2\nexit 3\n")
    (fake / "etcd").chmod(0o755)
    directory = tmp_path / "standalone"
    result = _cli(directory, "up", "--no-node", BUMPER_TESTBED_CACHE=str(cache))
    assert result.returncode == 1
    kept = tmp_path / "standalone-failed.log"
    assert result.stderr == (
        "testbed: the test bed failed to start: test bed (full) failed to start: "
        f"etcd exited with 3 (log: {kept})\n"
    )
    assert "etcd: no disk today" in kept.read_text()
    assert not directory.exists()
    assert _cli(directory, "status", BUMPER_TESTBED_CACHE=str(cache)).returncode == 1


def test_up_while_the_node_is_taken_fails_in_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    # The supervisor takes the host's node lock before it touches the node: holding it here
    # (as a test session's kube_node does) stops `up` there, with no node started.
    if os.geteuid() != 0:
        pytest.skip("the node lock lives in /run/lock (root)")
    _bins([*BINARIES, *NODE])
    directory = tmp_path / "standalone"
    SESSION_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with SESSION_LOCK.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pytest.skip("a test session on this host has the real node")
        result = _cli(directory, "up")
    assert result.returncode == 1, result.stdout
    line, rest = result.stderr.split("\n", 1)
    assert rest == ""  # one line
    assert line.startswith(
        "testbed: the test bed failed to start: another test session or `make testbed-up` "
        f"holds {SESSION_LOCK}"
    ), line
    kept = re.fullmatch(r".* \(log: (\S+)\)", line)  # the start's log, kept for the reader
    assert kept is None or Path(kept[1]).is_file(), line
    assert not directory.exists()


@pytest.mark.node
@pytest.mark.standalone_node
def test_up_joins_the_real_node_and_down_restores_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.environ.get("BUMPER_TESTBED_NODE") != "1":
        pytest.skip("the real node changes host state: BUMPER_TESTBED_NODE=1 (make test)")
    _bins([*BINARIES, *NODE])
    busy = testbed_standalone.node_in_use_message()  # the user's `make testbed-up`, if any
    if busy:
        pytest.fail(busy, pytrace=False)
    directory = tmp_path / "standalone"
    monkeypatch.setenv("BUMPER_TESTBED_STATE", str(directory))
    first = _cli(directory, "up")
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        # What of the host the node could touch, as node.sh saved it before it changed anything
        # (the same comparison as test_node.py's).
        before = Path("/run/bumper-node/host.before").read_text()
        assert "\n# sysctls\nvm.overcommit_memory=" in before
        state = _state(directory)
        assert state["node"] == NODE_NAME
        nodes = _kubectl(state, tmp_path, "get", "nodes", NODE_NAME, "-o", "json")
        conditions = json.loads(nodes)["status"]["conditions"]
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        # The session fixture refuses, naming the way out.
        message = testbed_standalone.node_in_use_message()
        assert message is not None and "make testbed-down" in message
        # What a user does next: push an image to the registry, run it on the node.
        ref, digest = _push_hello(state, tmp_path)
        pod = _run_on_node(state, tmp_path, ref)
        assert pod["status"]["containerStatuses"][0]["imageID"].endswith(digest)
        again = _cli(directory, "up")
        assert again.returncode == 0 and again.stdout.startswith("# already up")
        assert _state(directory)["pid"] == state["pid"]
    finally:
        down = _cli(directory, "down")
    assert down.returncode == 0, down.stderr
    with pytest.raises(RuntimeError):  # node.sh status exits 1: nothing runs
        node_sh("status")
    assert node_sh("host-state") == before
    assert not Path("/run/netns/bumper-node").exists()


def _push_hello(state: dict[str, Any], tmp_path: Path) -> tuple[str, str]:
    """The node's hello image into the test bed's registry; the ref the node pulls, the digest."""
    bins = _bins(["hello", "crane"])
    port = state["registry"].rsplit(":", 1)[1]
    layout = tmp_path / "hello"
    (tmp_path / "docker-config").mkdir(exist_ok=True)
    digest = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "testbed" / "ociimage.py"),
            str(bins / "hello"),
            str(layout),
            f"localhost:{port}/bumper-dev/hello:v1",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    subprocess.run(
        [
            str(bins / "crane"),
            "push",
            "--insecure",
            str(layout),
            f"{state['registry']}/bumper-dev/hello:v1",
        ],
        env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker-config")},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return f"localhost:{port}/bumper-dev/hello:v1", digest


def _run_on_node(state: dict[str, Any], tmp_path: Path, ref: str) -> dict[str, Any]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {
            **placement(NODE_NAME),
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "hello",
                    "image": ref,
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080},
                        "periodSeconds": 1,
                    },
                }
            ],
        },
    }
    manifest = tmp_path / "pod.json"
    manifest.write_text(json.dumps(pod))
    _kubectl(state, tmp_path, "apply", "-f", str(manifest))

    def ready() -> dict[str, Any] | None:
        got: dict[str, Any] = json.loads(
            _kubectl(state, tmp_path, "get", "pod", "hello", "-n", "default", "-o", "json")
        )
        statuses = got.get("status", {}).get("containerStatuses", [])
        return got if statuses and statuses[0].get("ready") else None

    return wait_until(ready, 120, "the hello pod to become Ready on the node")
