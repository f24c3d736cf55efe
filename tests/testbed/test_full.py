"""Full-mode test bed: controllers, scheduler and kwok make Deployments really roll out (or not)."""

from __future__ import annotations

from typing import Any

from tests.support.testbed import FAIL_ANNOTATION, BedCluster
from tests.support.testbed_proc import wait_until


def _deployment(
    name: str, image: str, replicas: int = 2, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 8,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations or {}},
                # kwok's nodes only: the real node (tests/testbed/test_node.py) may have joined
                # the same cluster in this session, and it cannot pull registry.test images
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "app", "image": image}],
                },
            },
        },
    }


def _condition(deploy: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in deploy.get("status", {}).get("conditions", []):
        if cond["type"] == kind:
            return dict(cond)
    return {}


def _available(cluster: BedCluster, path: str, replicas: int) -> dict[str, Any] | None:
    deploy = cluster.get_json(path)
    status = deploy.get("status", {})
    done = (
        status.get("observedGeneration") == deploy["metadata"]["generation"]
        and status.get("updatedReplicas") == replicas
        and status.get("availableReplicas") == replicas
        and _condition(deploy, "Available").get("status") == "True"
    )
    return deploy if done else None


def _deadline_exceeded(cluster: BedCluster, path: str) -> dict[str, Any] | None:
    deploy = cluster.get_json(path)
    progressing = _condition(deploy, "Progressing")
    return deploy if progressing.get("reason") == "ProgressDeadlineExceeded" else None


def _pods(cluster: BedCluster, ns: str, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.get_json(
        f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3D{app}"
    )["items"]
    return items


def test_fake_nodes_are_ready(kube_full: BedCluster) -> None:
    nodes = kube_full.get_json("/api/v1/nodes")["items"]
    ready = [
        n["metadata"]["name"]
        for n in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    ]
    assert len(ready) >= 2


def test_deployment_becomes_available(kube_full: BedCluster) -> None:
    ns = kube_full.create_namespace("roll")
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    kube_full.create(base, _deployment("web", "registry.test/web:v1", replicas=3))

    deploy = wait_until(lambda: _available(kube_full, f"{base}/web", 3), 60, "web to be Available")
    assert deploy["status"]["readyReplicas"] == 3
    pods = _pods(kube_full, ns, "web")
    assert len(pods) == 3
    assert {p["spec"]["nodeName"] for p in pods} <= {"kwok-node-0", "kwok-node-1"}
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_deployment_marked_to_fail_never_becomes_available(kube_full: BedCluster) -> None:
    ns = kube_full.create_namespace("fail")
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    kube_full.create(
        base, _deployment("broken", "registry.test/web:v1", annotations={FAIL_ANNOTATION: "true"})
    )

    # the rollout runs out of time (the controller's own verdict), with no replica ever available
    deploy = wait_until(
        lambda: _deadline_exceeded(kube_full, f"{base}/broken"), 60, "ProgressDeadlineExceeded"
    )
    assert deploy["status"].get("availableReplicas", 0) == 0
    assert _condition(deploy, "Available").get("status") == "False"
    pods = _pods(kube_full, ns, "broken")
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        state = pod["status"]["containerStatuses"][0]
        assert state["ready"] is False
        assert state["state"]["waiting"]["reason"] == "CrashLoopBackOff"


def test_bumping_to_an_image_tag_ending_in_fail_stalls_the_rollout(
    kube_full: BedCluster,
) -> None:
    ns = kube_full.create_namespace("bump")
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    kube_full.create(base, _deployment("api", "registry.test/api:v1"))
    wait_until(lambda: _available(kube_full, f"{base}/api", 2), 60, "api v1 to be Available")

    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "image": "registry.test/api:v2-fail"}]}
            }
        }
    }
    resp = kube_full.api(
        "PATCH",
        f"{base}/api",
        json=patch,
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert resp.status_code == 200, resp.text

    deploy = wait_until(
        lambda: _deadline_exceeded(kube_full, f"{base}/api"), 60, "the v2 rollout to stall"
    )
    # the old ReplicaSet keeps serving; the new pods exist but none is Ready
    assert deploy["status"]["availableReplicas"] >= 1
    new_pods = [
        p
        for p in _pods(kube_full, ns, "api")
        if p["spec"]["containers"][0]["image"].endswith("v2-fail")
    ]
    assert new_pods
    assert not any(p["status"]["containerStatuses"][0]["ready"] for p in new_pods)
    assert _available(kube_full, f"{base}/api", 2) is None
