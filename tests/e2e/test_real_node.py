"""End to end on the real node (issue 14 item 4): both charts installed from ``oci://`` with the
images ``make images`` builds; a signed webhook to the in-cluster web process; the in-cluster
worker opens a PR on the forge simulator (on the host); merging it makes the in-cluster agent
apply the new image, whose pod becomes Ready with the pushed digest; the agent reports health;
a broken image is rolled back with a revert PR; ``helm upgrade`` and ``helm uninstall`` work.

Marker ``node``: runs under ``make test`` (root, ``BUMPER_TESTBED_NODE=1``); see docs/testbed.md.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e import node_bed as bed
from tests.support.forgesim import ForgeSim
from tests.support.testbed import BedCluster, Node, RegistryFactory
from tests.support.testbed_proc import wait_until

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

RELEASE = bed.RELEASE


def _image_id(cluster: BedCluster, ns: str, selector: str) -> str:
    pods = bed.ready_pods(cluster, ns, selector)
    return str(pods[0]["status"]["containerStatuses"][0]["imageID"]) if pods else ""


def test_webhook_to_running_pod_on_the_real_node(
    kube_full: BedCluster,
    kube_node: Node,
    registry: RegistryFactory,
    forgesim: ForgeSim,
    tmp_path: Path,
) -> None:
    try:
        _scenario(kube_full, kube_node, registry, forgesim, tmp_path)
    except Exception as exc:
        raise AssertionError(f"{exc}\n{bed.pod_log_tails()}") from exc


def _scenario(
    kube_full: BedCluster,
    kube_node: Node,
    registry: RegistryFactory,
    forgesim: ForgeSim,
    tmp_path: Path,
) -> None:
    reg = registry()
    kube_node.forward(reg.port)
    kube_node.forward(bed.port_of(forgesim.url))
    local = f"localhost:{reg.port}"  # how the node's containerd names the registry

    # Independent uploads (mostly waiting on subprocesses): at once.
    with ThreadPoolExecutor(4) as pool:
        images = pool.submit(bed.build_and_push_images, reg)
        app_v1 = pool.submit(
            bed.push_app_image, reg, kube_full.bin_dir, tmp_path, "1.0.0", "MESSAGE=one"
        )
        app_v2 = pool.submit(
            bed.push_app_image, reg, kube_full.bin_dir, tmp_path, "1.1.0", "MESSAGE=two"
        )
        charts = pool.submit(bed.push_charts, kube_full, reg, tmp_path)
    digests, v1, v2, versions = images.result(), app_v1.result(), app_v2.result(), charts.result()

    forgesim.create_repo(
        bed.CONFIG_REPO,
        {"apps/api.yaml": bed.deployment_yaml(f"{local}/{bed.APP_REPO}:1.0.0", kube_node.name)},
    )
    ns = kube_full.create_namespace("sys")
    apps = kube_full.create_namespace("apps")
    bed.secret(kube_full, ns, "e2e-hooks", {"gh": bed.HOOK_SECRET})
    bed.secret(kube_full, ns, "e2e-agents", {"e2e": bed.AGENT_TOKEN})
    bed.secret(kube_full, ns, "e2e-forge", {"token": forgesim.token})
    web_in_cluster = f"http://{RELEASE}-bumper-web.{ns}.svc.cluster.local:8000"

    bed.install_chart(
        kube_full,
        "bumper",
        versions["bumper"],
        reg.host,
        ns,
        bed.bumper_values(forgesim, kube_node, local),
        tmp_path,
        release=RELEASE,
    )
    bed.install_chart(
        kube_full,
        "bumper-agent",
        versions["bumper-agent"],
        reg.host,
        ns,
        bed.agent_values(forgesim, kube_node, local, apps, web_in_cluster),
        tmp_path,
        release="agent",
    )

    # Every process of the system runs on the node from the pushed images.
    for selector, target in (
        ("app.kubernetes.io/component=web", "web"),
        ("app.kubernetes.io/component=worker", "worker"),
        ("app.kubernetes.io/component=redis", "redis"),
        ("app.kubernetes.io/name=bumper-agent", "agent"),
    ):
        image_id = wait_until(
            lambda s=selector: _image_id(kube_full, ns, s),  # type: ignore[misc]
            240,
            f"the {target} pod to become Ready on the node",
        )
        assert image_id.endswith(digests[target]), (target, image_id, digests[target])
        # ... and really with a read-only root filesystem, as UID 65532.
        (pod,) = bed.ready_pods(kube_full, ns, selector)
        for container in pod["spec"]["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, target
        assert pod["spec"]["securityContext"].get("runAsUser", 65532) == 65532, target
    # The agent applied the config repo's first state.
    first = wait_until(lambda: _image_id(kube_full, apps, "app=api"), 120, "api 1.0.0 Ready")
    assert first.endswith(v1)

    svc = kube_full.get_json(f"/api/v1/namespaces/{ns}/services/{RELEASE}-bumper-web")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    web = f"http://{kube_node.ip}:{node_port}"
    wait_until(lambda: requests.get(f"{web}/readyz", timeout=5).ok, 60, "the web Service")

    assert bed.package_hook(web, f"{local}/{bed.APP_REPO}", "1.1.0", v2) == 202
    repo = forgesim.repo(bed.CONFIG_REPO)
    (pr,) = wait_until(lambda: list(repo.changes.values()), 120, "the worker's PR")
    assert "1.1.0" in (repo.git.read_file(pr.head, "apps/api.yaml") or "")
    merged = requests.put(
        f"{forgesim.github_api_url}/repos/{bed.CONFIG_REPO}/pulls/{pr.number}/merge",
        headers={"Authorization": f"token {forgesim.token}"},
        json={},
        timeout=10,
    )
    assert merged.ok, merged.text

    def applied_v2() -> str:
        image_id = _image_id(kube_full, apps, "app=api")
        return image_id if image_id.endswith(v2) else ""

    wait_until(applied_v2, 180, "the agent to apply 1.1.0 and its pod to become Ready")
    # The agent reports its health to the web process (the web's own log line says it stored it).
    wait_until(
        lambda: bed.web_logged(ns, '"agent report"', '"agent":"e2e"', '"health":"Healthy"'),
        90,
        "the agent's health report to reach the web",
    )
    # What runs, as the agent reported it and the web stored it (worker.promotionstore): the
    # digest api's pods really run (their imageID), ready, on the merged commit.
    api_v2 = f"{local}/{bed.APP_REPO}@{v2}"
    store = bed.redis_from_host(kube_full, ns, kube_node)

    def stored_ready() -> dict[str, Any] | None:
        found = bed.health_evidence(store, "e2e").get(api_v2)
        return found if found and found.get("ready_since") else None

    evidence = wait_until(stored_ready, 90, "the web to store api's pushed digest ready")
    assert evidence["tag"] == "1.1.0", evidence
    assert bed.agent_logged(ns, "running ", "Deployment/api api:", f"{v2} ready=True")
    assert not bed.web_logged(ns, '"agent report refused"'), bed.pod_log_tails()

    # A broken image (the container exits): applied, unhealthy, rolled back, revert PR opened.
    v3 = bed.push_app_image(reg, kube_full.bin_dir, tmp_path, "1.2.0", "FAIL=1")
    assert bed.package_hook(web, f"{local}/{bed.APP_REPO}", "1.2.0", v3) == 202
    bad = wait_until(
        lambda: [c for c in repo.changes.values() if c.number != pr.number], 120, "the 2nd PR"
    )[0]
    assert "1.2.0" in (repo.git.read_file(bad.head, "apps/api.yaml") or "")
    merged = requests.put(
        f"{forgesim.github_api_url}/repos/{bed.CONFIG_REPO}/pulls/{bad.number}/merge",
        headers={"Authorization": f"token {forgesim.token}"},
        json={},
        timeout=10,
    )
    assert merged.ok, merged.text
    revert = wait_until(
        lambda: [c for c in repo.changes.values() if c.head.startswith("bumper/revert-")],
        300,
        "the agent's rollback and revert PR",
    )[0]
    assert "1.1.0" in (repo.git.read_file(revert.head, "apps/api.yaml") or "")
    deploy = kube_full.get_json(f"/apis/apps/v1/namespaces/{apps}/deployments/api")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.1.0")
    wait_until(applied_v2, 120, "the rolled-back pods Ready on 1.1.0's digest")

    # helm upgrade and uninstall of both releases.
    kube_full.run(
        "helm",
        "upgrade",
        RELEASE,
        f"oci://{reg.host}/charts/bumper",
        "--version",
        versions["bumper"],
        "--plain-http",
        "-n",
        ns,
        "--reuse-values",
        "--set",
        "worker.replicas=2",
        "--wait",
        "--timeout",
        "180s",
    )
    assert len(bed.ready_pods(kube_full, ns, "app.kubernetes.io/component=worker")) == 2
    kube_full.run(
        "helm",
        "upgrade",
        "agent",
        f"oci://{reg.host}/charts/bumper-agent",
        "--version",
        versions["bumper-agent"],
        "--plain-http",
        "-n",
        ns,
        "--reuse-values",
        "--set",
        "agent.interval=5",
        "--wait",
        "--timeout",
        "180s",
    )
    for release in ("agent", RELEASE):
        kube_full.run("helm", "uninstall", release, "-n", ns, "--wait", "--timeout", "120s")
    for name in (f"{RELEASE}-bumper-web", f"{RELEASE}-bumper-worker", "agent-bumper-agent"):
        gone = kube_full.api("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
        assert gone.status_code == 404, name
    assert kube_full.run("helm", "list", "-n", ns, "-q").stdout.strip() == ""
