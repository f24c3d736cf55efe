"""A real node (containerd + kubelet + kube-proxy, testbed/node.sh) joined to a test bed cluster.

The node lives in its own network namespace; the host reaches it at ``NODE_IP`` and it reaches
the host's loopback listeners (API server, registries) through forwarders on ``HOST_IP``.
Credentials are real: the kubelet has a ``system:node:<name>`` client cert in ``system:nodes``
(bound to the ``system:node`` ClusterRole, since the test bed runs RBAC without the Node
authorizer), kube-proxy a ``system:kube-proxy`` cert (bound by RBAC's bootstrap policy).

The node registers with the taint ``TAINT`` (testbed/node.sh): a pod lands on it only when it
tolerates it, so the kwok-only tests' pods (images a real node cannot pull) never do. A pod
meant for it takes ``placement(node)``: the matching toleration and a nodeSelector on the node.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.support import testbed_dns, testbed_pki
from tests.support.testbed_cluster import (  # noqa: F401 - placement & co. are this module's API
    REAL_NODE_TAINT,
    REAL_NODE_TOLERATION,
    BedCluster,
    placement,
    write_kubeconfig,
)
from tests.support.testbed_proc import REPO_ROOT, wait_until

NODE_SCRIPT = REPO_ROOT / "testbed" / "node.sh"
NODE_NAME = "bumper-node"
SUBNET = "10.213.77"
HOST_IP = f"{SUBNET}.1"
NODE_IP = f"{SUBNET}.2"
READY_TIMEOUT = 120.0
# One node per host: a second test session (another worktree's `make test`) waits for this lock.
# Outside the node's state dir, which `stop` removes.
SESSION_LOCK = Path("/run/lock/bumper-node.session")
SESSION_WAIT = 1800.0
NODE_LOGS = Path("/run/bumper-node/logs")  # testbed/node.sh's $STATE/logs


@dataclass
class Node:
    name: str
    ip: str
    host_ip: str
    log_dir: Path

    def forward(self, port: int) -> None:
        """Let the node pull from a registry on the host's 127.0.0.1:``port`` (plain HTTP)."""
        node_sh("forward", str(port))

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        for log in sorted(self.log_dir.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"----- node {log.name}\n" + "\n".join(text) + "\n")
        return "".join(parts)


def node_sh(*args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["bash", str(NODE_SCRIPT), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"testbed/node.sh {' '.join(args)}: {proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _kubeconfig(cluster: BedCluster, path: Path, common: str, org: str | None) -> Path:
    pki = testbed_pki.pki_in(cluster.ca_file.parent)
    cert, key = testbed_pki.issue_client_cert(pki, path.parent, common, org)
    port = urlsplit(cluster.server).port
    # The serving cert names localhost, not the forwarder's address: verify against that name.
    write_kubeconfig(
        path,
        f"https://{HOST_IP}:{port}",
        cluster.ca_file,
        {"client-certificate": str(cert), "client-key": str(key)},
    )
    config = path.read_text().replace(
        '"certificate-authority"',
        '"tls-server-name": "localhost",\n        "certificate-authority"',
    )
    path.write_text(config)
    return path


def _apply(cluster: BedCluster, path: str, body: dict[str, object]) -> None:
    resp = cluster.api("POST", path, json=body)
    if resp.status_code not in (201, 409):
        raise AssertionError(f"POST {path}: {resp.status_code} {resp.text}")


def _grant(cluster: BedCluster) -> None:
    # RBAC only (no Node authorizer): bind the kubelets' role to their group, as kubeadm once did.
    _apply(
        cluster,
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "metadata": {"name": "bumper-testbed:nodes"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:node",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}
            ],
        },
    )
    # The API server runs with --endpoint-reconciler-type=none (loopback endpoints are refused):
    # point the "kubernetes" Service at the forwarder so pods on the node reach the API.
    port = urlsplit(cluster.server).port
    _apply(
        cluster,
        "/api/v1/namespaces/default/endpoints",
        {
            "metadata": {"name": "kubernetes"},
            "subsets": [
                {
                    "addresses": [{"ip": HOST_IP}],
                    "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
                }
            ],
        },
    )


def _ready(cluster: BedCluster) -> bool:
    resp = cluster.api("GET", f"/api/v1/nodes/{NODE_NAME}")
    if resp.status_code != 200:
        return False
    conditions = resp.json().get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def start_node(cluster: BedCluster, workdir: Path) -> Node:
    """Start (or join) the node for ``cluster``; returns once the Node and its DNS are Ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    _grant(cluster)
    kubelet = _kubeconfig(
        cluster, workdir / "kubelet.kubeconfig", f"system:node:{NODE_NAME}", "system:nodes"
    )
    proxy = _kubeconfig(cluster, workdir / "kube-proxy.kubeconfig", "system:kube-proxy", None)
    node_sh(
        "start",
        env={
            "BUMPER_NODE_KUBECONFIG": str(kubelet),
            "BUMPER_NODE_PROXY_KUBECONFIG": str(proxy),
            "BUMPER_NODE_CA": str(cluster.ca_file),
            "BUMPER_NODE_APISERVER_PORT": str(urlsplit(cluster.server).port),
            "BUMPER_NODE_NAME": NODE_NAME,
            "BUMPER_NODE_SUBNET": SUBNET,
        },
    )
    node = Node(NODE_NAME, NODE_IP, HOST_IP, NODE_LOGS)
    try:
        wait_until(lambda: _ready(cluster), READY_TIMEOUT, f"Node {NODE_NAME} to become Ready")
        testbed_dns.deploy_dns(cluster, NODE_NAME)
    except BaseException as exc:
        raise RuntimeError(f"{exc}\n{node.log_tails()}") from exc
    return node


def stop_node(cluster: BedCluster | None = None) -> None:
    node_sh("stop")
    if cluster is not None:
        cluster.api("DELETE", f"/api/v1/nodes/{NODE_NAME}")


@contextmanager
def node_session(cluster: BedCluster, workdir: Path, wait: float = SESSION_WAIT) -> Iterator[Node]:
    """The node for one test session: exclusive on this host, fresh, stopped (host restored).

    Waits up to ``wait`` seconds for another holder of the host's node (a test session, or the
    standalone test bed's supervisor, ``testbed_standalone``), then fails.
    """
    SESSION_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with SESSION_LOCK.open("w") as lock:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"another test session or `make testbed-up` holds {SESSION_LOCK}"
                    ) from None
                time.sleep(2)
        # A session killed before its teardown leaves a node joined to a dead API server.
        node_sh("stop")
        try:  # a start that fails half-way has changed the host too
            yield start_node(cluster, workdir)
        finally:
            stop_node(cluster)
