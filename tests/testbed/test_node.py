"""The real node: a pushed image really runs there, and its Service answers through the node IP.

Runs only under ``make testbed-node-check`` (``BUMPER_TESTBED_NODE=1``, marker ``node``): the
node changes host state while it runs, so ``make test`` deselects these tests (``-m "not node"``)
until the end-to-end scenario brings the node into it; see ``kube_node``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support import testbed_node
from tests.support.testbed import BedCluster, Node, RegistryFactory
from tests.support.testbed_cluster import NODE_NAMES, iter_pods
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
                        "nodeSelector": {"kubernetes.io/hostname": kube_node.name},
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
