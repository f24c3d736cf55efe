"""Push mode keeps reporting health during a soak (``worker.pushcheck``): each promotion tick
re-observes the live workloads of a push environment that a promotion waits on, so pods that
go unhealthy mid-soak block the promotion with the rollout's reason, and pods ready again
restart the clock.

Real parts: the test bed's kube-apiserver (no kubelet: the test sets the pods' and the
Deployment's status, ``imageID`` included, through the status subresource, as the kubelet and
the deployment controller would; kwok sets no ``imageID``), the deployer's status and
inventory ConfigMaps written by the product's own record writer (what a push deploy leaves),
real Redis, the web app (the staging agent's report), worker jobs and the forge simulator.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from bumper.agent import inventory, kube
from bumper.agent import status as agentstatus
from bumper.core import config
from tests.promotion.harness import (
    D1,
    IMAGE,
    drain,
    push_dev_block,
    read,
    staging_runs_the_baseline,
    statuses,
)
from tests.support.forgesim import ForgeSim
from tests.support.testbed import BedCluster
from worker import context, jobs, pushcheck, pushdeploy
from worker.promotionstore import PromotionStore

NAME = "push-dev"
COMMIT = "c" * 40


@pytest.fixture
def namespace(kube_apiserver: BedCluster) -> str:
    return kube_apiserver.create_namespace("push-dev")


@pytest.fixture
def gates(kube_apiserver: BedCluster, namespace: str) -> dict[str, str]:
    dev = push_dev_block(NAME, namespace, kube_apiserver.kubeconfig)
    # 4 s: the first tick must see the soak running even on a loaded machine
    return {"dev_block": dev, "staging_gate": "{healthy_for: 4s}"}


def _patch_status(cluster: BedCluster, path: str, status: dict[str, Any]) -> None:
    reply = cluster.api(
        "PATCH",
        f"{path}/status",
        json={"status": status},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert reply.status_code == 200, reply.text


class Workload:
    """One Deployment with one pod, running 1.1.0 at ``D1``, whose health the test sets, and
    the deployer's records of it (what a push deploy leaves in the cluster)."""

    def __init__(self, cluster: BedCluster, namespace: str) -> None:
        self.cluster = cluster
        apps = f"/apis/apps/v1/namespaces/{namespace}/deployments"
        pods = f"/api/v1/namespaces/{namespace}/pods"
        labels = {"app": "api"}
        spec = {"containers": [{"name": "api", "image": f"{IMAGE}:1.1.0"}]}
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec},
            },
        }
        cluster.create(apps, deployment)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-1", "labels": labels}}
        cluster.create(pods, {**pod, "spec": spec})
        self.deployment, self.pod = f"{apps}/api", f"{pods}/api-1"
        client = kube.Client(kube.from_kubeconfig(cluster.kubeconfig), retry_for=10)
        records = inventory.Records(client, namespace, manager="bumper")
        live = agentstatus.Status(commit=COMMIT, health="Healthy", last_healthy_commit=COMMIT)
        records.write(f"{NAME}-status", live.to_data())
        owned = [inventory.Entry("apps/v1", "Deployment", namespace, "api")]
        records.write(f"{NAME}-inventory", inventory.dump_entries(owned))

    def set(self, ready: bool) -> None:
        """The kubelet's and the deployment controller's word on the pod and the rollout."""
        container = {
            "name": "api", "image": f"{IMAGE}:1.1.0", "imageID": f"{IMAGE}@{D1}",
            "ready": ready, "restartCount": 0, "state": {"running": {}},
        }  # fmt: skip
        _patch_status(
            self.cluster, self.pod, {"phase": "Running", "containerStatuses": [container]}
        )
        generation = self.cluster.get_json(self.deployment)["metadata"]["generation"]
        available = 1 if ready else 0
        rollout = {
            "observedGeneration": generation, "replicas": 1, "updatedReplicas": 1,
            "readyReplicas": available, "availableReplicas": available,
        }  # fmt: skip
        _patch_status(self.cluster, self.deployment, rollout)


def push_cluster() -> config.Cluster:
    rule = context.current().config.image("api.dev")
    assert rule is not None
    return rule.targets[0].push_cluster()


def tick(client: redis.Redis, n: int) -> None:
    jobs.evaluate_promotions(f"{jobs.PROMOTION_JOB_PREFIX}15-{n}")
    drain(client)


def _until(record: dict[str, Any]) -> float:
    return float(next(s["until"] for s in record["statuses"] if s["environment"] == "staging"))


def soak_out(client: redis.Redis) -> None:
    """Sleep until staging's soak (as last evaluated) ran out."""
    until = _until(PromotionStore(client).digests("api")[D1])
    time.sleep(max(0.0, until - time.time()) + 0.1)


def staging(client: redis.Redis) -> tuple[str, str]:
    record = PromotionStore(client).digests("api")[D1]
    found = next(s for s in record["statuses"] if s["environment"] == "staging")
    return str(found["state"]), str(found["detail"])


def test_pods_unhealthy_mid_soak_block_the_promotion_until_ready_again(
    sim: ForgeSim,
    web: FlaskClient,
    redis_client: redis.Redis,
    kube_apiserver: BedCluster,
    namespace: str,
) -> None:
    staging_runs_the_baseline(web)
    workload = Workload(kube_apiserver, namespace)
    workload.set(ready=True)
    # what the push deploy observed right after its rollout (pushdeploy.record_health)
    cluster = push_cluster()
    client = pushdeploy.client_for(cluster, context.current().config_dir)
    after_deploy = pushcheck.observe(client, cluster, NAME)
    assert [(e["digest"], e["ready"]) for e in after_deploy] == [(D1, True)]
    PromotionStore(redis_client).record_running(NAME, after_deploy, time.time())
    tick(redis_client, 1)
    assert staging(redis_client) == ("waiting", "healthy_for 4s in dev")
    soaked = PromotionStore(redis_client).digests("api")[D1]
    # the pod stops being ready mid-soak: the tick's re-check sees it, with the rollout's reason
    workload.set(ready=False)
    tick(redis_client, 2)
    reason = "unhealthy in dev: Deployment/api: 0 of 1 updated replicas available"
    assert staging(redis_client) == ("blocked", reason)
    time.sleep(max(0.0, _until(soaked) - time.time()) + 0.1)  # out, on the deploy's observation
    tick(redis_client, 3)
    assert staging(redis_client) == ("blocked", reason)
    assert f"{IMAGE}:1.0.0\n" in read(sim, "staging")
    assert statuses(redis_client, D1)["prod"] == "blocked"
    # ready again: the clock starts over at this observation, then the digest is promoted
    workload.set(ready=True)
    tick(redis_client, 4)
    assert staging(redis_client) == ("waiting", "healthy_for 4s in dev")
    soak_out(redis_client)
    tick(redis_client, 5)
    assert f"{IMAGE}:1.1.0@{D1}\n" in read(sim, "staging")


def test_an_unreadable_cluster_records_nothing(
    sim: ForgeSim, kube_apiserver: BedCluster, namespace: str
) -> None:
    cluster = push_cluster()
    refused = kube.Client(kube.Connection("http://127.0.0.1:9"), retry_for=0)
    assert pushcheck.observe(refused, cluster, NAME) == []
