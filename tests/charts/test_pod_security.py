"""Both charts on a real API server: every rendered object passes a server-side dry-run, and
every pod template, made into a Pod, is admitted in a namespace that enforces the
``restricted`` Pod Security Standard.

Pod Security admission checks Pods, not Deployments or StatefulSets (for those it only warns),
so each pod template is dry-run created as a Pod; the same Pod with one restricted field
removed is refused, which shows the namespace really enforces.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bumper.agent import kube
from tests.charts.helm import CASES, CHARTS, Helm, chart_of, docs
from tests.support.testbed import BedCluster
from tests.support.testbed_proc import wait_until

CASE_NAMES = sorted(p.stem for p in CASES.glob("*.yaml"))
WORKLOADS = {"Deployment", "StatefulSet"}

# The Prometheus Operator's kind, served by a schemaless CRD so that the ServiceMonitor is
# dry-run too (the real CRD's schema is the operator's; the test bed does not ship it).
SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "plural": "servicemonitors",
            "singular": "servicemonitor",
            "kind": "ServiceMonitor",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@pytest.fixture
def helm(testbed_bin_dir: Path, tmp_path: Path) -> Helm:
    return Helm(testbed_bin_dir, tmp_path)


@pytest.fixture(scope="module")
def client(kube_apiserver: BedCluster) -> kube.Client:
    resp = kube_apiserver.api(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=SERVICE_MONITOR_CRD
    )
    assert resp.status_code in (201, 409), resp.text
    cl = kube.Client(kube.from_kubeconfig(kube_apiserver.kubeconfig))
    wait_until(lambda: cl.resource("monitoring.coreos.com/v1", "ServiceMonitor"), 30, "CRD")
    return cl


@pytest.fixture
def restricted(kube_apiserver: BedCluster) -> str:
    return kube_apiserver.create_restricted_namespace("pss")


def rendered(helm: Helm, case: str, namespace: str) -> list[dict[str, Any]]:
    text = helm.template(str(CHARTS[chart_of(case)]), case, "--namespace", namespace)
    return docs(text)


def pods(objects: list[dict[str, Any]], namespace: str) -> Iterator[dict[str, Any]]:
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            name = obj["metadata"]["name"]
            spec = copy.deepcopy(obj["spec"]["template"]["spec"])
            # As the StatefulSet controller does: each claim template becomes the pod's volume.
            for claim in obj["spec"].get("volumeClaimTemplates", []):
                claim_name = f"{claim['metadata']['name']}-{name}-0"
                spec["volumes"].append(
                    {
                        "name": claim["metadata"]["name"],
                        "persistentVolumeClaim": {"claimName": claim_name},
                    }
                )
            yield {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            }


def create_pod(cluster: BedCluster, pod: dict[str, Any]) -> Any:
    namespace = pod["metadata"]["namespace"]
    return cluster.api(
        "POST", f"/api/v1/namespaces/{namespace}/pods", params={"dryRun": "All"}, json=pod
    )


@pytest.mark.parametrize("case", CASE_NAMES)
def test_every_object_passes_a_server_side_dry_run(
    kube_apiserver: BedCluster, helm: Helm, client: kube.Client, restricted: str, case: str
) -> None:
    objects = rendered(helm, case, restricted)
    # The agent's Role lives in the namespace it manages (agent.namespace), not the release's.
    for other in {o["metadata"].get("namespace", restricted) for o in objects} - {restricted}:
        made = kube_apiserver.api("POST", "/api/v1/namespaces", json={"metadata": {"name": other}})
        assert made.status_code in (201, 409), made.text
    for obj in objects:
        res = client.resource(obj["apiVersion"], obj["kind"])
        if not res.namespaced:
            obj["metadata"].pop("namespace", None)
        client.apply(res, obj, manager="chart-test", force=True, dry_run=True)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_every_pod_is_admitted_as_restricted(
    kube_apiserver: BedCluster, helm: Helm, restricted: str, case: str
) -> None:
    admitted = list(pods(rendered(helm, case, restricted), restricted))
    # web, worker and the bundled Redis; or the agent alone
    external = "redis:\n  enabled: false" in (CASES / f"{case}.yaml").read_text()
    assert len(admitted) == ({"bumper": 2 if external else 3}).get(chart_of(case), 1)
    for pod in admitted:
        created = create_pod(kube_apiserver, pod)
        assert created.status_code == 201, (pod["metadata"]["name"], created.text)
        for container in pod["spec"]["containers"]:
            assert container["resources"]["limits"]["memory"], container["name"]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize(
    "breach",
    ["runAsNonRoot", "allowPrivilegeEscalation", "capabilities", "seccompProfile"],
)
def test_a_pod_missing_one_restricted_field_is_refused(
    kube_apiserver: BedCluster, helm: Helm, restricted: str, breach: str
) -> None:
    """The check is real: each field the charts set is one the namespace insists on."""
    for pod in pods(rendered(helm, "bumper--default", restricted), restricted):
        spec = pod["spec"]
        if breach in ("runAsNonRoot", "seccompProfile"):
            del spec["securityContext"][breach]
            for container in spec["containers"]:
                container["securityContext"].pop(breach, None)
        else:
            for container in spec["containers"]:
                del container["securityContext"][breach]
        refused = create_pod(kube_apiserver, pod)
        assert refused.status_code == 403 and "restricted" in refused.text, refused.text
