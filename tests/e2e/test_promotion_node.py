"""Promotion on the test bed's real node (issue 20's acceptance): two pull agents run on the
control plane, one per environment: charts/bumper-agent installed with helm from the OCI chart in
the test bed's registry, with this branch's agent image (``images/build.sh agent`` pushed there),
release ``dev`` in namespace dev applying overlays/dev and release ``staging`` in namespace
staging applying overlays/staging of one config repo (tests/e2e/promotion_agents.py). Each
reports what its pods really run (the ``imageID`` digests) to the host's web process over the
authenticated agent API, with its own token from a Secret of its namespace.

A registry push reaches dev as a commit and runs there; a newer push during its soak supersedes
it (it never reaches staging) and starts its own clock at the dev agent's first ready report of
it; once dev has run the newer one ready for ``healthy_for``, the worker commits exactly that
``tag@digest`` to staging, and the staging agent runs it; once staging has run it ready for
``healthy_for``, prod gets it as a PR (``approval: pr``; prod has no agent here). A digest
failing health in dev is rolled back there and never reaches staging or prod.

Gunicorn, ``bumper worker`` and the forge simulator run on the host; the agents and the
workloads on the real node, which reaches the host's listeners through ``Node.forward`` at the
veth's host address (``node_bed.on_host``). Marker ``node``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import node_bed as bed
from tests.e2e import promotion_agents as agents
from tests.e2e.promotion_agents import ENVS, TOKENS
from tests.e2e.stack import CONFIG_REPO, Stack
from tests.support.forgesim import ForgeSim
from tests.support.redis_server import RedisServer
from tests.support.testbed import BedCluster, Node, RegistryFactory
from tests.support.testbed_cluster import iter_pods, placement
from tests.support.testbed_proc import wait_until
from worker.promotionstore import PromotionStore

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

APP = "acme/api"
# Staging's healthy_for in dev. The newer push must reach dev (webhook → commit → the agent's
# next poll, at most agents.INTERVAL s → rollout → its ready report) within the older digest's
# soak: 4.5 s with host agents woken by the forge's webhook at load 9; push → healthy p99 6 s
# with a warm worker at load 17, 17 s with a cold one (docs/benchmarks.md). Each second of it
# is a second of this test's wall time.
DEV_SOAK = 20
AGENT_SELECTOR = "app.kubernetes.io/name=bumper-agent"


def _deployment(image: str, node: str) -> str:
    container = {
        "name": "api",
        "image": image,
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
    }
    spec = {**placement(node), "terminationGracePeriodSeconds": 1, "containers": [container]}
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}}, "spec": spec},
            },
        },
        sort_keys=False,
    )


def _config(sim: ForgeSim, local: str, tokens: Path) -> str:
    env = [
        {
            "name": "dev",
            "agent": "dev",
            "targets": [{"repo": "cfg", "paths": ["overlays/dev/**"], "mode": "commit"}],
        },
        {
            "name": "staging",
            "agent": "staging",
            "gate": {"healthy_for": f"{DEV_SOAK}s"},
            "targets": [{"repo": "cfg", "paths": ["overlays/staging/**"], "mode": "commit"}],
        },
        {
            "name": "prod",
            "gate": {"healthy_for": "3s", "approval": "pr"},
            "targets": [{"repo": "cfg", "paths": ["overlays/prod/**"], "mode": "pr"}],
        },
    ]
    return yaml.safe_dump(
        {
            "apiVersion": "bumper/v1",
            "receivers": [
                {
                    "name": "gh",
                    "type": "github",
                    "secret": {"env": "E2E_HOOK_SECRET"},
                    "registry": local,
                    "scope": {"repos": [APP]},
                }
            ],
            "repos": [
                {
                    "name": "cfg",
                    "forge": "github",
                    "url": f"{sim.url}/{CONFIG_REPO}",
                    "api_url": sim.github_api_url,
                    "credentials": {"env": "E2E_FORGE_TOKEN"},
                }
            ],
            "pipelines": [
                {
                    "name": "api",
                    "image": f"{local}/{APP}",
                    "policy": {"semver": "^1.0"},
                    "environments": env,
                }
            ],
            "agents": [{"name": name, "token": {"file": str(tokens / name)}} for name in TOKENS],
        },
        sort_keys=False,
    )


def _running_digest(cluster: BedCluster, ns: str) -> str:
    """The digest of the one ready api pod of ``ns`` (its imageID), or ""."""
    ready = [
        s
        for pod in iter_pods(cluster, ns, "app=api")
        if not pod["metadata"].get("deletionTimestamp")
        for s in pod.get("status", {}).get("containerStatuses", [])
        if s.get("ready")
    ]
    image_id = str(ready[0].get("imageID", "")) if len(ready) == 1 else ""
    return image_id.rsplit("@", 1)[-1] if "@" in image_id else ""


def _agent_image_id(cluster: BedCluster, ns: str) -> str:
    """The imageID of the Ready agent pod of ``ns`` (its release's), or ""."""
    pods = bed.ready_pods(cluster, ns, AGENT_SELECTOR)
    return str(pods[0]["status"]["containerStatuses"][0]["imageID"]) if len(pods) == 1 else ""


def _ready_since(stack: Stack, agent: str, image: str) -> float | None:
    """When ``agent``'s unbroken run of ready reports of ``image`` (``repo@digest``) began."""
    since = (PromotionStore(stack.redis).evidence(agent).get(image) or {}).get("ready_since")
    return float(since) if isinstance(since, int | float) else None


def _package(local: str, tag: str, digest: str) -> dict[str, Any]:
    return {
        "action": "published",
        "package": {
            "package_type": "CONTAINER",
            "name": "api",
            "package_version": {
                "version": digest,
                "package_url": f"{local}/{APP}:{tag}",
                "container_metadata": {"tag": {"name": tag, "digest": digest}},
            },
        },
        "repository": {"full_name": APP},
    }


def test_a_healthy_digest_is_promoted_and_a_superseded_or_failing_one_is_not(
    kube_full: BedCluster,
    kube_node: Node,
    registry: RegistryFactory,
    forgesim: ForgeSim,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    reg = registry()
    kube_node.forward(reg.port)
    kube_node.forward(bed.port_of(forgesim.url))
    local = f"localhost:{reg.port}"  # how the node's containerd names the registry
    bins = kube_full.bin_dir
    # Independent uploads (mostly waiting on subprocesses): at once.
    with ThreadPoolExecutor(4) as pool:
        agent_image = pool.submit(bed.build_and_push_images, reg, "agent")
        charts = pool.submit(bed.push_charts, kube_full, reg, tmp_path)
        tags = {
            tag: pool.submit(bed.push_app_image, reg, bins, tmp_path, tag, env)
            for tag, env in (
                ("1.0.0", "MESSAGE=one"),
                ("1.1.0", "MESSAGE=two"),
                ("1.1.1", "MESSAGE=three"),
                ("1.2.0", "FAIL=1"),
            )
        }
    agent_digest = agent_image.result()["agent"]
    chart_version = charts.result()["bumper-agent"]
    v1, soaking, v2, v3 = (tags[t].result() for t in ("1.0.0", "1.1.0", "1.1.1", "1.2.0"))

    sim = forgesim
    start = _deployment(f"{local}/{APP}:1.0.0", kube_node.name)
    files = {f"overlays/{env}/api.yaml": start for env in (*ENVS, "prod")}
    sim.create_repo(CONFIG_REPO, files)
    repo = sim.repo(CONFIG_REPO)
    initial = repo.git.sha("main") or ""
    namespaces = {env: kube_full.create_namespace(env) for env in ENVS}
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    for name, token in TOKENS.items():
        (tokens / name).write_text(token)
    settings = {"BUMPER_WORKER__PROMOTION_TICK_SECONDS": "1"}
    stack = Stack(tmp_path, redis_server, sim, "", settings=settings)
    (tmp_path / "bumper.yaml").write_text(_config(sim, local, tokens))
    try:
        stack.start()
        kube_node.forward(bed.port_of(stack.web.url))
        web = bed.on_host(stack.web.url, kube_node)
        for env in ENVS:
            agents.install(
                kube_full,
                kube_node,
                sim,
                chart_version,
                reg.host,
                local,
                env,
                namespaces[env],
                web,
                tmp_path,
            )
        # Each environment's agent runs in its namespace from the image just pushed.
        for env in ENVS:
            image_id = wait_until(
                lambda e=env: _agent_image_id(kube_full, namespaces[e]),  # type: ignore[misc]
                240,
                f"the {env} agent's pod to become Ready on the node",
            )
            assert image_id.endswith(agent_digest), (env, image_id, agent_digest)
        for env in ENVS:
            wait_until(
                lambda e=env: _running_digest(kube_full, namespaces[e]) == v1,  # type: ignore[misc]
                180,
                f"1.0.0 running in {env}",
            )

        def pushed_to_dev(tag: str, digest: str) -> float:
            """Push ``tag``; when the dev agent's ready report of it (its soak's start) came,
            once the dev pod runs it."""
            assert stack.post("package", _package(local, tag, digest)) == 202
            since = wait_until(
                lambda: _ready_since(stack, "dev", f"{local}/{APP}@{digest}"),
                120,
                f"the dev agent's report of {tag}, ready",
            )
            wait_until(
                lambda: _running_digest(kube_full, namespaces["dev"]) == digest, 30, f"{tag} in dev"
            )
            return float(since)

        # A push reaches dev and runs there: the dev agent's ready report starts its soak.
        first_since = pushed_to_dev("1.1.0", soaking)
        # A newer push during that soak: 1.1.0 is superseded; 1.1.1's clock starts at the dev
        # agent's first ready report of it.
        pushed = time.time()
        since = pushed_to_dev("1.1.1", v2)
        assert first_since < pushed < since
        # Healthy in dev for its own soak, exactly that digest reaches staging.
        staged = wait_until(
            lambda: (
                (repo.git.read_file("main", "overlays/staging/api.yaml") or "")
                if v2 in (repo.git.read_file("main", "overlays/staging/api.yaml") or "")
                else ""
            ),
            120,
            "the promotion commit to staging",
        )
        assert f"{local}/{APP}:1.1.1@{v2}" in staged, staged
        records = PromotionStore(stack.redis).digests("api")
        assert records[v2]["entered"]["staging"]["at"] >= since + DEV_SOAK, records[v2]
        late = f"1.1.1 first reported ready {since - first_since:.1f} s after 1.1.0: "
        assert "staging" not in records[soaking]["entered"], late + str(records[soaking])
        (dev,) = [s for s in records[soaking]["statuses"] if s["environment"] == "dev"]
        assert (dev["state"], dev["detail"]) == ("blocked", f"superseded by {v2}"), dev
        for sha in repo.git.rev_list(initial, "main"):
            assert soaking not in (repo.git.read_file(sha, "overlays/staging/api.yaml") or "")
        wait_until(
            lambda: _running_digest(kube_full, namespaces["staging"]) == v2,
            120,
            "the promoted digest running in staging",
        )
        # ... and the staging agent's report of it (the evidence a later environment would use).
        wait_until(
            lambda: (
                PromotionStore(stack.redis).evidence("staging").get(f"{local}/{APP}@{v2}") or {}
            ).get("ready_since"),
            60,
            "the staging agent's report of the promoted digest, ready",
        )

        # Healthy in staging for 3 s: the same tag@digest for prod, as a PR for a human.
        # (1.0.0's digest ran healthy in staging from the start, but Bumper did not bring it
        # there and nothing reports prod: it may run there already, so it gets no PR.)
        def prod_pr(digest: str) -> list[str]:
            return [
                text
                for change in repo.changes.values()
                if digest
                in (text := repo.git.read_file(change.head, "overlays/prod/api.yaml") or "")
            ]

        (prod,) = wait_until(lambda: prod_pr(v2), 120, "the prod promotion PR of 1.1.1")
        assert f"{local}/{APP}:1.1.1@{v2}" in prod, prod
        assert prod_pr(soaking) == [] and prod_pr(v1) == []
        assert "1.0.0" in (repo.git.read_file("main", "overlays/prod/api.yaml") or "")

        # A digest that fails health in dev: rolled back there, never promoted.
        assert stack.post("package", _package(local, "1.2.0", v3)) == 202
        wait_until(
            lambda: "1.2.0" in (repo.git.read_file("main", "overlays/dev/api.yaml") or ""),
            120,
            "1.2.0 committed to dev",
        )
        # The agent keeps its state in its release's namespace (the chart's state namespace).
        dev_status = f"/api/v1/namespaces/{namespaces['dev']}/configmaps/dev-status"
        wait_until(
            lambda: kube_full.get_json(dev_status)["data"].get("failedCommit"),
            120,
            "the dev agent's rollback of 1.2.0",
        )
        assert _running_digest(kube_full, namespaces["dev"]) == v2
        time.sleep(5)  # several promotion ticks (1 s) after the rollback
        staging = repo.git.read_file("main", "overlays/staging/api.yaml") or ""
        assert "1.2.0" not in staging and v3 not in staging, staging
        assert prod_pr(v3) == [] and not any("1.2.0" in c.title for c in repo.changes.values())
        assert _running_digest(kube_full, namespaces["staging"]) == v2
    except Exception as exc:
        worker = stack.worker_text()[-4000:]
        raise AssertionError(f"{exc}\n{bed.pod_log_tails()}\n----- worker\n{worker}") from exc
    finally:
        # The releases, the agents' state and the api pods go with the namespaces: nothing of
        # this test keeps running on the shared node.
        for ns in namespaces.values():
            kube_full.api("DELETE", f"/api/v1/namespaces/{ns}")
        stack.stop()
