"""Cluster DNS for the real node: CoreDNS (testbed/coredns) as the Service ``kube-dns``.

The kubelet tells every pod that its nameserver is ``CLUSTER_DNS`` (testbed/node.sh); this module
puts CoreDNS behind that address: a ServiceAccount with the read-only RBAC its ``kubernetes``
plugin needs, the Corefile in a ConfigMap, a Deployment pinned to the real node, and the Service.
The image is imported into the node's containerd at start (never pulled). The Corefile serves
``cluster.local`` (and reverse zones) from the API server and forwards nothing upstream: the test
bed has no internet, so any other name fails fast (SERVFAIL) instead of timing out.

It runs unprivileged (UID 65532, read-only root filesystem, no capabilities), so it listens on
port 1053 and the Service maps 53 to it.
"""

from __future__ import annotations

from typing import Any

from tests.support.testbed_cluster import BedCluster, iter_pods, placement
from tests.support.testbed_proc import wait_until

CLUSTER_DNS = "10.96.0.10"
NAMESPACE = "kube-system"
NAME = "coredns"
IMAGE = "bumper.local/testbed/coredns:1"
READY_TIMEOUT = 90.0

COREFILE = """\
.:1053 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
"""

_LABELS = {"k8s-app": "kube-dns"}
_RBAC = "/apis/rbac.authorization.k8s.io/v1"


def _ensure(cluster: BedCluster, path: str, body: dict[str, Any]) -> None:
    """Create ``body`` in the collection ``path`` unless an object of its name is there."""
    # GET first: a second POST of a Service with a fixed clusterIP fails on the IP (422), not 409.
    if cluster.api("GET", f"{path}/{body['metadata']['name']}").status_code == 200:
        return
    resp = cluster.api("POST", path, json=body)
    if resp.status_code not in (201, 409):
        raise AssertionError(f"POST {path}: {resp.status_code} {resp.text}")


def _rbac(cluster: BedCluster) -> None:
    _ensure(
        cluster,
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts",
        {"metadata": {"name": NAME}},
    )
    _ensure(
        cluster,
        f"{_RBAC}/clusterroles",
        {
            "metadata": {"name": "bumper-testbed:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
    )
    _ensure(
        cluster,
        f"{_RBAC}/clusterrolebindings",
        {
            "metadata": {"name": "bumper-testbed:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "bumper-testbed:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
        },
    )


def _deployment(node_name: str) -> dict[str, Any]:
    container = {
        "name": "coredns",
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [
            {"name": "dns", "containerPort": 1053, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": 1053, "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 1},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return {
        "metadata": {"name": NAME, "labels": _LABELS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _LABELS},
            "template": {
                "metadata": {"labels": _LABELS},
                "spec": {
                    "serviceAccountName": NAME,
                    **placement(node_name),
                    # Its own resolv.conf must not name itself (no upstream to ask anyway).
                    "dnsPolicy": "Default",
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": NAME}}],
                },
            },
        },
    }


def _service() -> dict[str, Any]:
    return {
        "metadata": {"name": "kube-dns", "labels": _LABELS},
        "spec": {
            "clusterIP": CLUSTER_DNS,
            "selector": _LABELS,
            "ports": [
                {"name": "dns", "port": 53, "targetPort": 1053, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "targetPort": 1053, "protocol": "TCP"},
            ],
        },
    }


def _ready(cluster: BedCluster) -> bool:
    for pod in iter_pods(cluster, NAMESPACE, "k8s-app=kube-dns"):
        statuses = pod.get("status", {}).get("containerStatuses", [])
        if statuses and statuses[0].get("ready"):
            return True
    return False


def deploy_dns(cluster: BedCluster, node_name: str) -> None:
    """Create (or keep) kube-dns on ``node_name``; returns once a CoreDNS pod is Ready."""
    _rbac(cluster)
    ns = f"/api/v1/namespaces/{NAMESPACE}"
    _ensure(
        cluster, f"{ns}/configmaps", {"metadata": {"name": NAME}, "data": {"Corefile": COREFILE}}
    )
    _ensure(cluster, f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", _deployment(node_name))
    _ensure(cluster, f"{ns}/services", _service())
    wait_until(lambda: _ready(cluster), READY_TIMEOUT, "CoreDNS (kube-dns) to become Ready")
