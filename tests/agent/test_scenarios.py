"""The agent against the real control plane (full mode: Deployments really roll out).

Every test installs the chart with helm and runs ``bumper agent`` as the chart's ServiceAccount
against a real git repo in tmp_path. Covered: initial sync, a bump rolling out, pruning of a
removed manifest (and nothing else), an empty render pruning nothing, an invalid manifest or a
broken render applying nothing, a bad image rolled back with its digest recorded, manual edits
healed (once and by the running loop), the push webhook, and a kube-apiserver restart mid-sync.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tests.agent.bed import AgentBed, configmap, deployment, dump, namespace, service
from tests.support import testbed_proc
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer
from tests.support.testbed import FAIL_ANNOTATION, Cluster

BAD_DIGEST = "sha256:" + hashlib.sha256(b"a broken build").hexdigest()


@pytest.fixture
def bed(kube_full: Cluster, tmp_path: Path) -> Iterator[AgentBed]:
    bed = AgentBed(kube_full, tmp_path)
    bed.install()
    yield bed


def wait_for(check: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def seed(bed: AgentBed, image: str = "example.com/shop/web:1.0") -> str:
    bed.repo.write("ns.yaml", dump(namespace(bed.apps)))
    bed.repo.write("apps/web.yaml", dump(deployment("web", image), service("web")))
    bed.repo.write("apps/settings.yaml", dump(configmap("settings", color="blue")))
    bed.repo.write("apps/extra/flags.yaml", dump(configmap("flags", beta="off")))
    return bed.repo.commit("initial")


def synced(bed: AgentBed, *extra: str) -> dict[str, str]:
    done = bed.sync(*extra)
    assert done.returncode == 0, done.stderr[-3000:]
    return bed.status()


def available(bed: AgentBed, name: str, image: str) -> bool:
    dep = bed.deployment(name) or {}
    spec, status = dep.get("spec", {}), dep.get("status", {})
    images = [c["image"] for c in spec["template"]["spec"]["containers"]] if spec else []
    return bool(
        images == [image]
        and status.get("observedGeneration") == dep["metadata"]["generation"]
        and status.get("updatedReplicas") == spec["replicas"]
        and status.get("availableReplicas") == spec["replicas"]
        and status.get("replicas") == spec["replicas"]
    )


def test_initial_sync_applies_everything(bed: AgentBed) -> None:
    head = seed(bed)
    status = synced(bed)
    assert (status["commit"], status["health"], status["lastError"]) == (head, "Healthy", "")
    assert status["lastHealthyCommit"] == head
    assert available(bed, "web", "example.com/shop/web:1.0")
    assert bed.admin_get(f"/api/v1/namespaces/{bed.apps}/services/web") is not None
    flags = bed.configmap("flags")
    assert flags is not None and flags["data"] == {"beta": "off"}
    labels = flags["metadata"]["labels"]
    assert labels["bumper.dev/agent"] == bed.name
    managers = {m["manager"] for m in flags["metadata"]["managedFields"]}
    assert "bumper-agent" in managers
    kinds = sorted(row[1] for row in bed.inventory())
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "Namespace", "Service"]


def test_a_bump_commit_rolls_out(bed: AgentBed) -> None:
    seed(bed)
    synced(bed)
    bed.repo.write(
        "apps/web.yaml", dump(deployment("web", "example.com/shop/web:1.1"), service("web"))
    )
    bump = bed.repo.commit("bump web to 1.1")
    status = synced(bed)
    assert (status["commit"], status["health"]) == (bump, "Healthy")
    assert status["applied"] == "1"  # only the Deployment changed
    assert available(bed, "web", "example.com/shop/web:1.1")


def test_removed_manifest_is_pruned_and_nothing_else(bed: AgentBed) -> None:
    seed(bed)
    synced(bed)
    # Objects the agent does not own, in the same namespace, with and without look-alike labels.
    stranger = configmap("stranger", bed.apps)
    other_agent = configmap("other-agent", bed.apps)
    other_agent["metadata"]["labels"] = {
        "app.kubernetes.io/managed-by": "bumper-agent",
        "bumper.dev/agent": "someone-else",
    }
    for obj in (stranger, other_agent):
        bed.cluster.create(f"/api/v1/namespaces/{bed.apps}/configmaps", obj)
    bed.repo.remove("apps/extra/flags.yaml")
    bed.repo.commit("drop flags")
    status = synced(bed)
    assert status["pruned"] == "1"
    wait_for(lambda: bed.configmap("flags") is None, 30, "flags to be deleted")
    assert bed.configmap("settings") is not None
    assert bed.configmap("stranger") is not None
    assert bed.configmap("other-agent") is not None
    assert "flags" not in {row[3] for row in bed.inventory()}


def test_empty_render_prunes_nothing(bed: AgentBed) -> None:
    seed(bed)
    synced(bed)
    for rel in ("ns.yaml", "apps/web.yaml", "apps/settings.yaml", "apps/extra/flags.yaml"):
        bed.repo.remove(rel)
    bed.repo.write("README.md", "moved elsewhere\n")
    bed.repo.commit("oops: everything gone")
    done = bed.sync()
    assert done.returncode == 2
    status = bed.status()
    assert "render is empty; refusing to prune 5 objects" in status["lastError"]
    assert bed.configmap("flags") is not None and bed.deployment("web") is not None
    assert len(bed.inventory()) == 5


def test_invalid_manifest_applies_nothing(bed: AgentBed) -> None:
    good = seed(bed)
    synced(bed)
    bed.repo.write("apps/settings.yaml", dump(configmap("settings", color="red")))
    broken = deployment("api", "example.com/shop/api:1.0")
    broken["spec"]["selector"]["matchLabels"] = {"app": "not-the-template"}
    bed.repo.write("apps/api.yaml", dump(broken))
    bed.repo.commit("valid change plus an invalid Deployment")
    done = bed.sync()
    assert done.returncode == 2
    status = bed.status()
    assert status["commit"] == good and status["health"] == "Error"
    assert "dry-run refused" in status["lastError"] and "api" in status["lastError"]
    settings = bed.configmap("settings")
    assert settings is not None and settings["data"] == {"color": "blue"}
    assert bed.deployment("api") is None
    # A render error (broken YAML) also applies nothing and says where.
    bed.repo.remove("apps/api.yaml")
    bed.repo.write("apps/oops.yaml", "kind: ConfigMap\nmetadata: [unclosed\n")
    bed.repo.commit("broken yaml")
    assert bed.sync().returncode == 2
    status = bed.status()
    assert "apps/oops.yaml" in status["lastError"] and status["commit"] == good
    settings = bed.configmap("settings")
    assert settings is not None and settings["data"] == {"color": "blue"}


def test_bad_image_is_rolled_back_and_recorded(
    bed: AgentBed, redis_server: RedisServer, forgesim: ForgeSim
) -> None:
    """The config repo lives on the forge simulator, so statuses and the revert PR are real."""
    forgesim.create_repo("acme/config")
    push_url = forgesim.clone_url("acme/config", with_token=True)
    token = bed.tmp / "forge-token"
    token.write_text(forgesim.token)
    forge_flags = [
        *("--repo", forgesim.clone_url("acme/config"), "--git-token-file", str(token)),
        *("--forge", "github", "--forge-api-url", forgesim.github_api_url),
        *("--forge-repo", "acme/config", "--forge-token-file", str(token)),
    ]
    good = seed(bed)
    bed.repo.push(push_url)
    synced(bed, *forge_flags)
    bad_image = f"example.com/shop/web:2.0@{BAD_DIGEST}"
    bad_dep = deployment("web", bad_image, annotations={FAIL_ANNOTATION: "true"})
    bed.repo.write("apps/web.yaml", dump(bad_dep, service("web")))
    bed.repo.write("apps/settings.yaml", dump(configmap("settings", color="green")))
    bad = bed.repo.commit("bump web to a broken build")
    bed.repo.push(push_url)
    done = bed.sync("--health-timeout", "15", "--redis-url", redis_server.url, *forge_flags)
    assert done.returncode == 2
    status = bed.status()
    assert status["health"] == "RolledBack"
    assert (status["commit"], status["failedCommit"]) == (good, bad)
    assert "Deployment.apps" in status["lastError"]
    wait_for(lambda: available(bed, "web", "example.com/shop/web:1.0"), 60, "rollback")
    settings = bed.configmap("settings")
    assert settings is not None and settings["data"] == {"color": "blue"}
    # The bad digest is recorded where the bump worker reads it: ConfigMap and Redis.
    record = bed.admin_get(f"/api/v1/namespaces/{bed.state_ns}/configmaps/bumper-bad-images")
    assert record is not None
    entries = json.loads(record["data"]["records.json"])
    assert [(e["digest"], e["commit"]) for e in entries] == [(BAD_DIGEST, bad)]
    assert entries[0]["repository"] == "example.com/shop/web"
    stored = redis.Redis.from_url(redis_server.url).hget(
        "bumper:bad-images", f"example.com/shop/web@{BAD_DIGEST}"
    )
    assert stored is not None and json.loads(stored)["commit"] == bad
    assert bed.events(bed.state_ns, "RolledBack")
    # Commit statuses and a revert PR whose branch restores the healthy tree.
    sim_repo = forgesim.repo("acme/config")
    history = [(s.sha, s.state) for s in sim_repo.statuses if s.context == "bumper-agent"]
    assert history == [(good, "pending"), (good, "success"), (bad, "pending"), (bad, "failure")]
    (revert,) = sim_repo.changes.values()
    assert (revert.head, revert.base) == (f"bumper/revert-{bad[:12]}", "main")
    web = sim_repo.git.read_file(revert.head, "apps/web.yaml") or ""
    assert "example.com/shop/web:1.0" in web and BAD_DIGEST not in web
    # The branch still points at the bad commit: the agent stays on the healthy one.
    bed.sync("--health-timeout", "15", *forge_flags)
    status = bed.status()
    assert (status["commit"], status["revision"], status["health"]) == (good, bad, "RolledBack")
    assert available(bed, "web", "example.com/shop/web:1.0")
    assert len(sim_repo.changes) == 1


def test_manual_edit_is_healed_and_reported(bed: AgentBed) -> None:
    seed(bed)
    synced(bed)
    bed.patch(f"/apis/apps/v1/namespaces/{bed.apps}/deployments/web", {"spec": {"replicas": 5}})
    bed.patch(f"/api/v1/namespaces/{bed.apps}/configmaps/settings", {"data": {"color": "pink"}})
    status = synced(bed)
    assert (status["drifted"], status["applied"]) == ("2", "2")
    dep = bed.deployment("web")
    assert dep is not None and dep["spec"]["replicas"] == 2
    settings = bed.configmap("settings")
    assert settings is not None and settings["data"] == {"color": "blue"}
    healed = {e["involvedObject"]["name"] for e in bed.events(bed.apps, "DriftHealed")}
    assert healed == {"web", "settings"}
    # A resync with nothing changed applies nothing.
    status = synced(bed)
    assert (status["drifted"], status["applied"]) == ("0", "0")


def test_namespace_scope_works_with_the_charts_role_and_stays_inside(
    kube_full: Cluster, tmp_path: Path
) -> None:
    bed = AgentBed(kube_full, tmp_path)
    kube_full.create("/api/v1/namespaces", {"metadata": {"name": bed.apps}})
    bed.install(scope="namespace")
    bed.repo.write("app.yaml", dump(deployment("web", "example.com/shop/web:1.0"), service("web")))
    head = bed.repo.commit("app")
    status = synced(bed)
    assert (status["commit"], status["health"]) == (head, "Healthy")
    assert available(bed, "web", "example.com/shop/web:1.0")
    bed.repo.write("app.yaml", dump(deployment("web", "example.com/shop/web:1.1"), service("web")))
    bed.repo.write("elsewhere.yaml", dump(configmap("elsewhere", "default")))
    bed.repo.commit("reaches outside its namespace")
    assert bed.sync().returncode == 2
    status = bed.status()
    assert "outside the agent's namespace" in status["lastError"] and status["commit"] == head
    assert available(bed, "web", "example.com/shop/web:1.0")


def test_crd_and_its_custom_resources_in_one_commit(kube_full: Cluster, tmp_path: Path) -> None:
    bed = AgentBed(kube_full, tmp_path)
    group = f"{bed.name}.example.com"
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
    rbac = {
        "rbac": {
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs},
                {"apiGroups": [group], "resources": ["widgets"], "verbs": verbs},
            ],
            "clusterRules": [
                {"apiGroups": [""], "resources": ["namespaces"], "verbs": verbs},
                {
                    "apiGroups": ["apiextensions.k8s.io"],
                    "resources": ["customresourcedefinitions"],
                    "verbs": verbs,
                },
            ],
        }
    }
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps(rbac))
    bed.install(values_file=values)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}}
    widget["spec"] = {"size": 3}
    # Render order puts the custom resource first: the agent must still apply the CRD first.
    bed.repo.write("all.yaml", dump(widget, configmap("settings"), crd, namespace(bed.apps)))
    head = bed.repo.commit("a CRD, its namespace and a custom resource")
    status = synced(bed)
    assert (status["commit"], status["applied"]) == (head, "4")
    live = bed.admin_get(f"/apis/{group}/v1/namespaces/{bed.apps}/widgets/w1")
    assert live is not None and live["spec"] == {"size": 3}
    status = synced(bed)
    assert status["applied"] == "0"


def free_port() -> int:
    return testbed_proc.free_port()


def test_conflict_policy_fail_applies_nothing_and_force_takes_fields_back(bed: AgentBed) -> None:
    seed(bed)
    synced(bed)
    bed.patch(f"/apis/apps/v1/namespaces/{bed.apps}/deployments/web", {"spec": {"replicas": 5}})
    bed.repo.write("apps/settings.yaml", dump(configmap("settings", color="red")))
    bed.repo.commit("red")
    assert bed.sync("--conflicts", "fail").returncode == 2
    status = bed.status()
    assert "conflict" in status["lastError"].lower() and "kubectl-edit" in status["lastError"]
    settings, dep = bed.configmap("settings"), bed.deployment("web")
    assert settings is not None and settings["data"] == {"color": "blue"}
    assert dep is not None and dep["spec"]["replicas"] == 5
    synced(bed)  # the default policy: Git wins
    settings, dep = bed.configmap("settings"), bed.deployment("web")
    assert settings is not None and settings["data"] == {"color": "red"}
    assert dep is not None and dep["spec"]["replicas"] == 2


def test_running_agent_syncs_on_push_webhook_and_heals_drift(bed: AgentBed) -> None:
    secret = "hook-secret"
    (bed.tmp / "hook").write_text(secret)
    first = seed(bed)
    port = free_port()
    proc = bed.start(
        "--listen",
        f"127.0.0.1:{port}",
        "--interval",
        "300",
        "--webhook-secret-file",
        str(bed.tmp / "hook"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: bed.status().get("commit") == first, 60, "the first sync")
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        bed.repo.write("apps/settings.yaml", dump(configmap("settings", color="teal")))
        head = bed.repo.commit("teal")
        body = json.dumps({"ref": "refs/heads/main", "after": head}).encode()
        forged = requests.post(
            f"{base}/hooks/git",
            data=body,
            headers={"X-Hub-Signature-256": "sha256=" + "0" * 64, "X-GitHub-Event": "push"},
            timeout=5,
        )
        assert forged.status_code == 401
        time.sleep(1)
        assert bed.status()["commit"] == first  # a forged hook triggers nothing
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        accepted = requests.post(
            f"{base}/hooks/git",
            data=body,
            headers={"X-Hub-Signature-256": f"sha256={signature}", "X-GitHub-Event": "push"},
            timeout=5,
        )
        assert accepted.status_code == 202
        wait_for(lambda: bed.status().get("commit") == head, 30, "the webhook-triggered sync")
        metrics = requests.get(f"{base}/metrics", timeout=5).text
        assert 'bumper_agent_syncs_total{result="ok"} 2' in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # The loop heals drift on its own, every interval.
    proc = bed.start("--listen", f"127.0.0.1:{free_port()}", "--interval", "1")
    try:
        wait_for(lambda: bed.status().get("health") == "Healthy", 60, "the loop to start")
        bed.patch(f"/api/v1/namespaces/{bed.apps}/configmaps/settings", {"data": {"color": "x"}})
        wait_for(
            lambda: (bed.configmap("settings") or {}).get("data") == {"color": "teal"},
            30,
            "the loop to heal the edit",
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def restart_apiserver(cluster: Cluster) -> None:
    """Stop kube-apiserver by pid and start it again with the same flags (same port, etcd)."""
    index = next(i for i, p in enumerate(cluster.procs) if p.name == "kube-apiserver")
    old = cluster.procs[index]
    old.stop()
    new = testbed_proc.Proc(old.name, old.args, cluster.log_dir)
    cluster.procs[index] = new

    def ready() -> bool:
        new.check_alive()
        return bool(cluster.api("GET", "/readyz", timeout=3).status_code == 200)

    testbed_proc.wait_until(ready, 90, "kube-apiserver to come back")


def test_apiserver_restart_mid_sync_still_converges(bed: AgentBed) -> None:
    """The running agent (as deployed) rides out the restart; the next pass finishes the job.

    Requests in flight are retried with back-off; a pass that still fails (right after a
    restart the API server may briefly deny requests until its RBAC caches fill) is retried by
    the loop. Converged means: every object applied, status Healthy at the new commit.
    """
    seed(bed)
    many = [configmap(f"bulk-{i:03d}", payload="x" * 200) for i in range(300)]
    bed.repo.write("apps/bulk.yaml", dump(*many))
    head = bed.repo.commit("300 more objects")
    selector = f"bumper.dev/agent={bed.name}"

    def applied() -> int:
        data = bed.admin_get(f"/api/v1/namespaces/{bed.apps}/configmaps?labelSelector={selector}")
        return len((data or {}).get("items", []))

    proc = bed.start("--listen", f"127.0.0.1:{free_port()}", "--interval", "2", "--workers", "1")
    try:
        wait_for(lambda: applied() >= 20, 120, "the apply to be under way")
        assert applied() < 302, "the sync finished before the restart; nothing was tested"
        restart_apiserver(bed.cluster)

        def converged() -> bool:
            status = bed.status()
            return status.get("commit") == head and status.get("health") == "Healthy"

        wait_for(converged, 180, "the agent to converge after the restart")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log = (bed.tmp / "agent.log").read_text()
    assert "retrying" in log  # the restart really hit the sync in flight
    assert applied() == 302
    assert bed.status()["managed"] == "305"
