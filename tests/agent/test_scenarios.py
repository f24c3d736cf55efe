"""The reconcile engine against the real control plane (full mode: Deployments roll out).

Every test installs the agent chart with helm and runs a pass as the chart's ServiceAccount
against a real git repo in tmp_path. Scenarios that are the engine's run in both modes
(``mode``): ``pull`` runs ``bumper agent --once``, ``push`` runs the worker's push adapter
(``worker.pushdeploy.Deployer``) on the same bed. Covered in both: initial sync, a bump
rolling out, pruning of a removed manifest (and nothing else), an empty render pruning
nothing, an invalid manifest or a broken render applying nothing, a bad image failing its
per-object health timeout, rolled back with its digest recorded, staying rolled back until
the branch moves and recovering on a new commit, and manual edits healed. Pull only: the
namespace scope, a CRD with the chart's RBAC values, the conflict policy, the running loop
with its webhook, a kube-apiserver restart mid-sync, and the signature policy across agent
restarts (a rewind and an unsigned commit refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from bumper.agent import phases
from bumper.agent.manifests import TIMEOUT_ANNOTATION
from bumper.core.config import BumperConfig
from bumper.settings import Settings
from bumper.web import create_app
from tests.agent.bed import AgentBed, PushMode, configmap, deployment, dump, namespace, service
from tests.agent.test_source import keypair
from tests.support import testbed_proc
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer
from tests.support.testbed import FAIL_ANNOTATION, BedCluster
from tests.support.web_thread import ThreadedWeb

BAD_DIGEST = "sha256:" + hashlib.sha256(b"a broken build").hexdigest()
MODES = ["pull", "push"]
MANAGER = {"pull": "bumper-agent", "push": "bumper-push"}


@pytest.fixture
def bed(kube_full: BedCluster, tmp_path: Path) -> Iterator[AgentBed]:
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


@contextlib.contextmanager
def reporting_to_web(bed: AgentBed, redis_url: str) -> Iterator[list[str]]:
    """Bumper's web app on a real port, with the bed's agent among its ``agents``: the agent
    flags that make the pull agent report to it (bad images land in ``redis_url``)."""
    token = bed.tmp / "report-token"
    token.write_text(uuid.uuid4().hex + "\n")
    config = BumperConfig.model_validate(
        {"apiVersion": "bumper/v1", "agents": [{"name": bed.name, "token": {"file": str(token)}}]}
    )
    web = ThreadedWeb(create_app(Settings(redis_url=redis_url), config))
    web.start()
    try:
        yield ["--report-url", web.url, "--report-token-file", str(token)]
    finally:
        web.stop()


def sync(bed: AgentBed, mode: str, *extra: str, redis_url: str | None = None) -> int:
    """One pass in ``mode``; its exit code as ``bumper agent --once`` gives it (0: healthy and
    no error, else 2). ``extra``: agent flags, for the pull agent only. With ``redis_url``, bad
    images reach that Redis: the pull agent reports them to the web process, push mode writes
    them through the worker's store."""
    if mode == "pull":
        with contextlib.ExitStack() as stack:
            flags = stack.enter_context(reporting_to_web(bed, redis_url)) if redis_url else []
            done = bed.sync(*extra, *flags)
        assert done.returncode in (0, 2), done.stderr[-3000:]
        return done.returncode
    PushMode(bed, redis_url).sync()
    status = bed.status()
    return 0 if status["health"] == "Healthy" and not status["lastError"] else 2


def synced(bed: AgentBed, mode: str = "pull", *extra: str) -> dict[str, str]:
    if mode == "pull":
        done = bed.sync(*extra)
        assert done.returncode == 0, done.stderr[-3000:]
    else:
        assert sync(bed, mode) == 0, bed.status()
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


@pytest.mark.parametrize("mode", MODES)
def test_initial_sync_applies_everything(bed: AgentBed, mode: str) -> None:
    head = seed(bed)
    status = synced(bed, mode)
    assert (status["commit"], status["health"], status["lastError"]) == (head, "Healthy", "")
    assert status["lastHealthyCommit"] == head
    assert available(bed, "web", "example.com/shop/web:1.0")
    assert bed.admin_get(f"/api/v1/namespaces/{bed.apps}/services/web") is not None
    flags = bed.configmap("flags")
    assert flags is not None and flags["data"] == {"beta": "off"}
    labels = flags["metadata"]["labels"]
    assert labels["bumper.dev/agent"] == bed.name
    managers = {m["manager"] for m in flags["metadata"]["managedFields"]}
    assert MANAGER[mode] in managers
    kinds = sorted(row[1] for row in bed.inventory())
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "Namespace", "Service"]


@pytest.mark.parametrize("mode", MODES)
def test_a_bump_commit_rolls_out(bed: AgentBed, mode: str) -> None:
    seed(bed)
    synced(bed, mode)
    bed.repo.write(
        "apps/web.yaml", dump(deployment("web", "example.com/shop/web:1.1"), service("web"))
    )
    bump = bed.repo.commit("bump web to 1.1")
    status = synced(bed, mode)
    assert (status["commit"], status["health"]) == (bump, "Healthy")
    assert status["applied"] == "1"  # only the Deployment changed
    assert available(bed, "web", "example.com/shop/web:1.1")


@pytest.mark.parametrize("mode", MODES)
def test_removed_manifest_is_pruned_and_nothing_else(bed: AgentBed, mode: str) -> None:
    seed(bed)
    synced(bed, mode)
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
    status = synced(bed, mode)
    assert status["pruned"] == "1"
    wait_for(lambda: bed.configmap("flags") is None, 30, "flags to be deleted")
    assert bed.configmap("settings") is not None
    assert bed.configmap("stranger") is not None
    assert bed.configmap("other-agent") is not None
    assert "flags" not in {row[3] for row in bed.inventory()}


@pytest.mark.parametrize("mode", MODES)
def test_empty_render_prunes_nothing(bed: AgentBed, mode: str) -> None:
    seed(bed)
    synced(bed, mode)
    for rel in ("ns.yaml", "apps/web.yaml", "apps/settings.yaml", "apps/extra/flags.yaml"):
        bed.repo.remove(rel)
    bed.repo.write("README.md", "moved elsewhere\n")
    bed.repo.commit("oops: everything gone")
    assert sync(bed, mode) == 2
    status = bed.status()
    assert "render is empty; refusing to prune 5 objects" in status["lastError"]
    assert bed.configmap("flags") is not None and bed.deployment("web") is not None
    assert len(bed.inventory()) == 5


@pytest.mark.parametrize("mode", MODES)
def test_invalid_manifest_applies_nothing(bed: AgentBed, mode: str) -> None:
    good = seed(bed)
    synced(bed, mode)
    bed.repo.write("apps/settings.yaml", dump(configmap("settings", color="red")))
    broken = deployment("api", "example.com/shop/api:1.0")
    broken["spec"]["selector"]["matchLabels"] = {"app": "not-the-template"}
    bed.repo.write("apps/api.yaml", dump(broken))
    bed.repo.commit("valid change plus an invalid Deployment")
    assert sync(bed, mode) == 2
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
    assert sync(bed, mode) == 2
    status = bed.status()
    assert "apps/oops.yaml" in status["lastError"] and status["commit"] == good
    settings = bed.configmap("settings")
    assert settings is not None and settings["data"] == {"color": "blue"}


def forge_flags(bed: AgentBed, forgesim: ForgeSim) -> list[str]:
    """The agent's flags for a config repo on the forge simulator (statuses, revert PR)."""
    forgesim.create_repo("acme/config")
    token = bed.tmp / "forge-token"
    token.write_text(forgesim.token)
    return [
        *("--repo", forgesim.clone_url("acme/config"), "--git-token-file", str(token)),
        *("--forge", "github", "--forge-api-url", forgesim.github_api_url),
        *("--forge-repo", "acme/config", "--forge-token-file", str(token)),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_bad_image_is_rolled_back_recorded_and_refused_until_the_branch_moves(
    bed: AgentBed, mode: str, redis_server: RedisServer, forgesim: ForgeSim
) -> None:
    """The broken Deployment fails its own 3 s health timeout (the global one is 20 s). Pull
    mode's config repo lives on the forge simulator, so its statuses and revert PR are real;
    push mode reports through the worker instead (tests/worker/test_pushdeploy.py)."""
    pull = mode == "pull"
    flags = forge_flags(bed, forgesim) if pull else []
    push_url = forgesim.clone_url("acme/config", with_token=True)

    def publish() -> None:
        if pull:
            bed.repo.push(push_url)

    good = seed(bed)
    publish()
    synced(bed, mode, *flags)
    bad_image = f"example.com/shop/web:2.0@{BAD_DIGEST}"
    bad_dep = deployment("web", bad_image, annotations={FAIL_ANNOTATION: "true"})
    bad_dep["metadata"]["annotations"] = {TIMEOUT_ANNOTATION: "3"}
    bed.repo.write("apps/web.yaml", dump(bad_dep, service("web")))
    bed.repo.write("apps/settings.yaml", dump(configmap("settings", color="green")))
    bad = bed.repo.commit("bump web to a broken build")
    publish()
    field = f"example.com/shop/web@{BAD_DIGEST}"
    redis.Redis.from_url(redis_server.url).hdel("bumper:bad-images", field)
    assert sync(bed, mode, *flags, redis_url=redis_server.url) == 2
    status = bed.status()
    assert status["health"] == "RolledBack"
    assert (status["commit"], status["failedCommit"]) == (good, bad)
    assert (
        "Deployment.apps" in status["lastError"] and "not healthy after 3s" in status["lastError"]
    )
    assert available(bed, "web", "example.com/shop/web:1.0")  # the rollback was waited for
    settings = bed.configmap("settings")
    assert settings is not None and settings["data"] == {"color": "blue"}
    # The bad digest is recorded where the bump worker reads it: ConfigMap and Redis.
    record = bed.admin_get(f"/api/v1/namespaces/{bed.state_ns}/configmaps/bumper-bad-images")
    assert record is not None
    entries = json.loads(record["data"]["records.json"])
    assert [(e["digest"], e["commit"]) for e in entries] == [(BAD_DIGEST, bad)]
    assert entries[0]["repository"] == "example.com/shop/web"
    stored = redis.Redis.from_url(redis_server.url).hget("bumper:bad-images", field)
    assert stored is not None and json.loads(stored)["commit"] == bad
    assert json.loads(stored)["agent"] == bed.name
    assert bed.events(bed.state_ns, "RolledBack")
    if pull:  # commit statuses and a revert PR whose branch restores the healthy tree
        sim_repo = forgesim.repo("acme/config")
        history = [(s.sha, s.state) for s in sim_repo.statuses if s.context == "bumper-agent"]
        assert history == [(good, "pending"), (good, "success"), (bad, "pending"), (bad, "failure")]
        (revert,) = sim_repo.changes.values()
        assert (revert.head, revert.base) == (f"bumper/revert-{bad[:12]}", "main")
        web = sim_repo.git.read_file(revert.head, "apps/web.yaml") or ""
        assert "example.com/shop/web:1.0" in web and BAD_DIGEST not in web
    # The branch still points at the bad commit: the cluster stays on the healthy one.
    assert sync(bed, mode, *flags) == 2
    status = bed.status()
    assert (status["commit"], status["revision"], status["health"]) == (good, bad, "RolledBack")
    assert available(bed, "web", "example.com/shop/web:1.0")
    if pull:
        assert len(forgesim.repo("acme/config").changes) == 1
    # A fixed build moves the branch: it rolls out and the failure is forgotten.
    bed.repo.write(
        "apps/web.yaml", dump(deployment("web", "example.com/shop/web:2.1"), service("web"))
    )
    fixed = bed.repo.commit("a fixed build")
    publish()
    status = synced(bed, mode, *flags)
    assert (status["commit"], status["health"], status["failedCommit"]) == (fixed, "Healthy", "")
    assert available(bed, "web", "example.com/shop/web:2.1")


@pytest.mark.parametrize("mode", MODES)
def test_manual_edit_is_healed_and_reported(bed: AgentBed, mode: str) -> None:
    seed(bed)
    synced(bed, mode)
    bed.patch(f"/apis/apps/v1/namespaces/{bed.apps}/deployments/web", {"spec": {"replicas": 5}})
    bed.patch(f"/api/v1/namespaces/{bed.apps}/configmaps/settings", {"data": {"color": "pink"}})
    status = synced(bed, mode)
    assert (status["drifted"], status["applied"]) == ("2", "2")
    dep = bed.deployment("web")
    assert dep is not None and dep["spec"]["replicas"] == 2
    settings = bed.configmap("settings")
    assert settings is not None and settings["data"] == {"color": "blue"}
    healed = {e["involvedObject"]["name"] for e in bed.events(bed.apps, "DriftHealed")}
    assert healed == {"web", "settings"}
    # A resync with nothing changed applies nothing.
    status = synced(bed, mode)
    assert (status["drifted"], status["applied"]) == ("0", "0")


# Pull only: the namespace scope is the agent's setting (push mode has no scope).
def test_namespace_scope_works_with_the_charts_role_and_stays_inside(
    kube_full: BedCluster, tmp_path: Path
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


# Pull only: the signature policy is the agent's (push mode applies the worker's own commits).
def test_signature_policy_survives_restarts_and_refuses_a_rewind_and_an_unsigned_commit(
    bed: AgentBed, tmp_path: Path
) -> None:
    """Each ``--once`` pass is a new agent process: the base of the policy (the last applied
    commit) comes back from the status ConfigMap, so a restart cannot reopen the rollback."""
    good = keypair(tmp_path, "good")
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"test@example.com {Path(f'{good}.pub').read_text()}")
    flags = ("--allowed-signers", str(signers))
    bed.repo.write("ns.yaml", dump(namespace(bed.apps)))
    bed.repo.write("settings.yaml", dump(configmap("settings", color="blue")))
    old = bed.repo.commit("blue", sign_key=good)
    bed.repo.write("settings.yaml", dump(configmap("settings", color="green")))
    live = bed.repo.commit("green", sign_key=good)
    assert synced(bed, "pull", *flags)["commit"] == live
    bed.repo.git("reset", "--hard", old)  # a force-push back to an older signed commit
    assert sync(bed, "pull", *flags) == 2
    status = bed.status()
    assert status["commit"] == live and "does not descend" in status["lastError"]
    assert (bed.configmap("settings") or {})["data"] == {"color": "green"}
    bed.repo.git("reset", "--hard", live)
    bed.repo.write("settings.yaml", dump(configmap("settings", color="red")))
    unsigned = bed.repo.commit("unsigned, in the middle")
    bed.repo.write("settings.yaml", dump(configmap("settings", color="yellow")))
    bed.repo.commit("signed tip", sign_key=good)
    assert sync(bed, "pull", *flags) == 2
    status = bed.status()
    assert status["commit"] == live and f"{unsigned[:12]} is not signed" in status["lastError"]
    assert (bed.configmap("settings") or {})["data"] == {"color": "green"}


# Pull only: it tests the chart's RBAC values; the apply path is the engine's in both modes.
def test_crd_and_its_custom_resources_in_one_commit(kube_full: BedCluster, tmp_path: Path) -> None:
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


# Pull only: push mode always takes conflicting fields back (conflicts: force).
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


# Pull only: the agent's own loop and webhook; push mode runs once per bump job.
def test_running_agent_syncs_on_push_webhook_and_heals_drift(bed: AgentBed) -> None:
    secret = "hook-secret-of-the-bed"
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
        assert forged.status_code == 403  # a signature present but wrong (401: none at all)
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
        # Where the second sync's time went: it applied the one changed ConfigMap.
        samples = {
            (sample.name, sample.labels.get("phase")): sample.value
            for family in text_string_to_metric_families(metrics)
            for sample in family.samples
        }
        spent = {p: v for (name, p), v in samples.items() if name.endswith("_phase_seconds")}
        assert set(spent) == set(phases.PHASES)
        assert spent["fetch"] > 0 and spent["render"] > 0 and spent["apply"] > 0
        assert spent["health"] == 0 and spent["prune"] == 0  # no workload changed, none left
        assert sum(spent.values()) <= samples[("bumper_agent_sync_duration_seconds", None)]
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


def restart_apiserver(cluster: BedCluster) -> None:
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


# Pull only: the running agent's loop retries; push mode's retry is RQ's
# (tests/worker/test_pushdeploy.py).
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
