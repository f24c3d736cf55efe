"""The real node: a pushed image really runs there, and its Service answers through the node IP.

Marker ``node``: they run with ``BUMPER_TESTBED_NODE=1`` (``make test``, ``make
testbed-node-check``), since the node needs root and changes host state while it runs; ``make
pytest`` without it deselects them. See ``kube_node``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support import testbed_node
from tests.support.testbed import BedCluster, Node, RegistryFactory
from tests.support.testbed_cluster import NODE_NAMES, REAL_NODE_TAINT, iter_pods, placement
from tests.support.testbed_node import node_sh
from tests.support.testbed_proc import REPO_ROOT, wait_until

pytestmark = pytest.mark.node


def _push_hello(registry: RegistryFactory, cluster: BedCluster, workdir: str) -> tuple[str, str]:
    reg = registry()
    ref = f"localhost:{reg.port}/bumper-dev/hello:v1"
    digest = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "testbed" / "ociimage.py"),
            str(cluster.bin_dir / "hello"),
            f"{workdir}/hello",
            ref,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    reg.crane("push", f"{workdir}/hello", f"{reg.host}/bumper-dev/hello:v1")
    return ref, digest


def test_pushed_image_runs_on_the_node_and_its_service_answers(
    kube_full: BedCluster, kube_node: Node, registry: RegistryFactory, tmp_path: Path
) -> None:
    ref, digest = _push_hello(registry, kube_full, str(tmp_path))
    kube_node.forward(int(ref.split(":")[1].split("/")[0]))
    ns = kube_full.create_namespace("node")
    labels = {"app": "hello"}
    kube_full.create(
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        {
            "metadata": {"name": "hello"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        **placement(kube_node.name),
                        "automountServiceAccountToken": False,
                        "containers": [
                            {
                                "name": "hello",
                                "image": ref,
                                "env": [{"name": "MESSAGE", "value": "on-the-node"}],
                                "ports": [{"containerPort": 8080}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/healthz", "port": 8080},
                                    "periodSeconds": 1,
                                },
                            }
                        ],
                    },
                },
            },
        },
    )

    def ready_pod() -> dict[str, object] | None:
        for pod in iter_pods(kube_full, ns, "app=hello"):
            statuses = pod.get("status", {}).get("containerStatuses", [])
            if statuses and statuses[0].get("ready"):
                return pod
        return None

    pod = wait_until(ready_pod, 120, "the hello pod to become Ready on the real node")
    status = pod["status"]["containerStatuses"][0]  # type: ignore[index]
    assert status["imageID"].endswith(digest), (status["imageID"], digest)
    svc = kube_full.create(
        f"/api/v1/namespaces/{ns}/services",
        {
            "metadata": {"name": "hello"},
            "spec": {
                "type": "NodePort",
                "selector": labels,
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        },
    )
    port = svc["spec"]["ports"][0]["nodePort"]

    def answer() -> str | None:
        resp = requests.get(f"http://{kube_node.ip}:{port}/", timeout=5)
        return resp.text if resp.ok else None

    text = wait_until(answer, 60, "the NodePort Service to answer through the node IP")
    assert text.startswith("hello from hello-") and "on-the-node" in text


def test_starting_again_leaves_the_running_node_alone(
    kube_full: BedCluster, kube_node: Node, tmp_path: Path
) -> None:
    before = node_sh("status")
    testbed_node.start_node(kube_full, tmp_path / "again")
    assert node_sh("status") == before  # same pids: nothing restarted
    names = [n["metadata"]["name"] for n in kube_full.get_json("/api/v1/nodes")["items"]]
    assert sorted(names) == sorted([kube_node.name, *NODE_NAMES])


def _client_pod(name: str, image: str, node: str, *args: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "spec": {
            **placement(node),
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "get",
                    "image": image,
                    "args": list(args),
                    # On failure the status says why (the log's tail).
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }
            ],
        },
    }


def _finished(cluster: BedCluster, ns: str, name: str) -> dict[str, object] | None:
    pod = cluster.get_json(f"/api/v1/namespaces/{ns}/pods/{name}")
    return pod if pod["status"].get("phase") in ("Succeeded", "Failed") else None


def test_a_pod_finds_a_service_by_its_cluster_dns_name(
    kube_full: BedCluster, kube_node: Node, registry: RegistryFactory, tmp_path: Path
) -> None:
    ref, _ = _push_hello(registry, kube_full, str(tmp_path))
    kube_node.forward(int(ref.split(":")[1].split("/")[0]))
    ns = kube_full.create_namespace("dns")
    labels = {"app": "web"}
    kube_full.create(
        f"/api/v1/namespaces/{ns}/pods",
        {
            "metadata": {"name": "web", "labels": labels},
            "spec": {
                **placement(kube_node.name),
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "web",
                        "image": ref,
                        "env": [{"name": "MESSAGE", "value": "found-by-name"}],
                        "readinessProbe": {
                            "httpGet": {"path": "/healthz", "port": 8080},
                            "periodSeconds": 1,
                        },
                    }
                ],
            },
        },
    )
    kube_full.create(
        f"/api/v1/namespaces/{ns}/services",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    wait_until(
        lambda: any(
            s.get("ready")
            for p in iter_pods(kube_full, ns, "app=web")
            for s in p.get("status", {}).get("containerStatuses", [])
        ),
        120,
        "the web pod to become Ready",
    )
    url = f"http://web.{ns}.svc.cluster.local/"
    kube_full.create(
        f"/api/v1/namespaces/{ns}/pods",
        _client_pod("get", ref, kube_node.name, "-get", url, "-for", "30s"),
    )
    # A name that no Service has: the same client fails, so the success above is the DNS's.
    kube_full.create(
        f"/api/v1/namespaces/{ns}/pods",
        _client_pod(
            "get-missing", ref, kube_node.name, "-get", f"http://nothere.{ns}.svc.cluster.local/"
        ),
    )

    pod = wait_until(lambda: _finished(kube_full, ns, "get"), 120, "the client pod to finish")
    state = pod["status"]["containerStatuses"][0]["state"]["terminated"]  # type: ignore[index]
    assert pod["status"]["phase"] == "Succeeded", state  # type: ignore[index]
    assert state["message"].startswith("hello from web ") and "found-by-name" in state["message"]
    missing = wait_until(
        lambda: _finished(kube_full, ns, "get-missing"), 120, "the second client pod to finish"
    )
    assert missing["status"]["phase"] == "Failed"  # type: ignore[index]
    reason = missing["status"]["containerStatuses"][0]["state"]["terminated"]  # type: ignore[index]
    assert "no such host" in reason["message"], reason


def _sysctl(key: str) -> str:
    return Path("/proc/sys", *key.split(".")).read_text().strip()


def test_stop_restores_the_host_and_a_new_start_works(
    kube_full: BedCluster, kube_node: Node, tmp_path: Path
) -> None:
    saved = dict(
        line.split("=", 1)
        for line in Path("/run/bumper-node/sysctls.saved").read_text().splitlines()
    )
    assert "kernel.panic" in saved and "vm.overcommit_memory" in saved
    # The running kubelet changed some (else the restore below would prove nothing).
    assert {key: _sysctl(key) for key in saved} != saved
    # What of the host the node could touch, as node.sh saved it before the node started: the
    # host namespace's iptables rules (no counters), global sysctls, loaded kernel modules.
    before = Path("/run/bumper-node/host.before").read_text()
    assert "\n# sysctls\nvm.overcommit_memory=" in before and "\n# modules\n" in before
    testbed_node.stop_node(kube_full)
    try:
        assert {key: _sysctl(key) for key in saved} == saved
        assert node_sh("host-state") == before
        assert not Path("/run/bumper-node").exists()
        assert not Path("/run/netns/bumper-node").exists()
        assert not Path("/sys/class/net/bnode0").exists()
        assert not list(Path("/sys/fs/cgroup").glob("*/kubepods"))
        # Pod IP leases were kept under the state dir, so none leaks into the next start
        # (host-local's default directory once filled up the node's /24 over many runs).
        assert not Path("/var/lib/cni/networks/bumper").exists()
        # Container logs lived under the state dir; no link to them is left on the host.
        links = Path("/var/log/containers")
        assert not [p for p in links.glob("*.log") if "bumper-node" in str(p.readlink())]
    finally:
        # The session's node goes on for the tests after this one.
        testbed_node.start_node(kube_full, tmp_path / "restart")
    assert "kubelet: running" in node_sh("status")


def test_pods_that_do_not_tolerate_the_real_node_stay_off_it(
    kube_full: BedCluster, kube_node: Node
) -> None:
    node = kube_full.get_json(f"/api/v1/nodes/{kube_node.name}")
    taints = [{k: t[k] for k in ("key", "value", "effect")} for t in node["spec"]["taints"]]
    assert REAL_NODE_TAINT in taints
    # No nodeSelector, an image only kwok "runs": the scheduler must keep all of them on kwok.
    ns = kube_full.create_namespace("untolerated")
    labels = {"app": "anywhere"}
    kube_full.create(
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        {
            "metadata": {"name": "anywhere"},
            "spec": {
                "replicas": 6,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "registry.test/a:1"}]},
                },
            },
        },
    )

    def placed() -> list[str] | None:
        nodes = [p["spec"].get("nodeName") for p in iter_pods(kube_full, ns, "app=anywhere")]
        return [str(n) for n in nodes] if len(nodes) == 6 and all(nodes) else None

    nodes = wait_until(placed, 60, "six pods to be scheduled")
    assert set(nodes) <= set(NODE_NAMES), nodes
