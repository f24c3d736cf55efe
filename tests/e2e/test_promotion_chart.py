"""The promotion node test's two agent releases (tests/e2e/promotion_agents.py) without the
real node: rendered by ``helm template`` with the very values that test installs, then installed
the same way (``helm install`` from the OCI chart pushed to a test bed registry, the Secrets
first) on the API-server-only cluster, where no pod runs. Each release is namespaced (nothing
cluster-wide, no name shared), applies into its own namespace only (its service account's
rights, as the API server's RBAC answers them), reports to the web URL it is given with the
token from the Secret it names, and carries no secret in its values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.e2e import node_bed as bed
from tests.e2e import promotion_agents as agents
from tests.support.forgesim import ForgeSim
from tests.support.testbed import BedCluster, Node, RegistryFactory
from tests.support.testbed_node import HOST_IP, NODE_IP, NODE_NAME
from tests.support.testbed_proc import REPO_ROOT

CHART = REPO_ROOT / "charts" / "bumper-agent"
LOCAL = "localhost:5123"  # as the node names the test bed's registry


def _render(
    cluster: BedCluster, sim: ForgeSim, node: Node, env: str, ns: str, web: str, tmp: Path
) -> list[dict[str, Any]]:
    file = tmp / f"{env}-values.yaml"
    file.write_text(yaml.safe_dump(agents.values(sim, node, LOCAL, env, ns, web)))
    args = ["template", env, str(CHART), "--namespace", ns, "--values", str(file)]
    out = cluster.run("helm", *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _can(cluster: BedCluster, ns: str, sa: str, verb: str, resource: str, where: str) -> bool:
    """What the API server's RBAC grants ``ns``'s service account ``sa`` in namespace
    ``where`` ("" for cluster-wide)."""
    scope = ["-n", where] if where else ["--all-namespaces"]
    user = f"system:serviceaccount:{ns}:{sa}"
    done = cluster.run(
        "kubectl", "auth", "can-i", verb, resource, *scope, "--as", user, check=False
    )
    assert done.stdout.strip() in ("yes", "no"), done.stdout + done.stderr
    return done.stdout.strip() == "yes"


def test_each_environments_release_is_namespaced_least_privilege_and_reports_to_the_web(
    kube_apiserver: BedCluster, registry: RegistryFactory, forgesim: ForgeSim, tmp_path: Path
) -> None:
    node = Node(NODE_NAME, NODE_IP, HOST_IP, tmp_path)
    web = bed.on_host("http://127.0.0.1:8765", node)
    namespaces = {env: kube_apiserver.create_namespace(env) for env in agents.ENVS}
    reg = registry()
    chart_version = bed.push_charts(kube_apiserver, reg, tmp_path)["bumper-agent"]
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    names: dict[str, set[tuple[str, str]]] = {}
    for env, ns in namespaces.items():
        docs = _render(kube_apiserver, forgesim, node, env, ns, web, tmp_path)
        text = yaml.safe_dump_all(docs)
        assert agents.TOKENS[env] not in text and forgesim.token not in text
        # Namespaced only: every object in the release's namespace, no cluster-wide kind.
        assert {d["metadata"].get("namespace") for d in docs} == {ns}, text
        assert not {d["kind"] for d in docs} & {"ClusterRole", "ClusterRoleBinding", "Namespace"}
        names[env] = {(d["kind"], d["metadata"]["name"]) for d in docs}
        assert all(name.startswith(f"{env}-") for _, name in names[env]), names[env]

        config = yaml.safe_load(
            next(d for d in docs if d["kind"] == "ConfigMap")["data"]["agent.yaml"]
        )
        assert config["name"] == env and config["namespace"] == ns
        assert config["paths"] == [f"overlays/{env}"]
        assert config["repo_url"] == f"http://{HOST_IP}:{bed.port_of(forgesim.url)}/acme/config.git"
        assert config["report_url"] == f"http://{HOST_IP}:8765"
        assert "forge" not in config, config  # a rollback opens no revert PR here
        pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == f"{LOCAL}/bumper-dev/bumper-agent:{app_version}"
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
        assert set(volumes) == {"git", "report"}, volumes
        assert Path(mounts["report"]) == Path(config["report_token_file"]).parent
        report = volumes["report"]
        assert report["secretName"] == agents.REPORT_SECRET
        assert report["items"] == [{"key": "token", "path": "token"}]
        assert volumes["git"]["secretName"] == agents.GIT_SECRET
        assert pod["nodeSelector"] == {"kubernetes.io/hostname": NODE_NAME}

        # Installed as the node test installs it: one release per namespace, side by side.
        agents.install(
            kube_apiserver, node, forgesim, chart_version, reg.host, LOCAL, env, ns, web, tmp_path
        )
        listed = kube_apiserver.run("helm", "list", "-n", ns, "-o", "json").stdout
        assert [(r["name"], r["status"]) for r in yaml.safe_load(listed)] == [(env, "deployed")]
    assert not names["dev"] & names["staging"]

    for env, ns in namespaces.items():
        sa = f"{env}-bumper-agent"
        other = next(n for e, n in namespaces.items() if e != env)
        # What it applies and the pods it reports on, in its own namespace...
        assert _can(kube_apiserver, ns, sa, "patch", "deployments.apps", ns)
        assert _can(kube_apiserver, ns, sa, "list", "pods", ns)
        assert _can(kube_apiserver, ns, sa, "update", "configmaps", ns)  # its state
        # ... and nothing more: not pods beyond list, no Secrets, not the other environment,
        # nothing cluster-wide.
        assert not _can(kube_apiserver, ns, sa, "get", "pods", ns)
        assert not _can(kube_apiserver, ns, sa, "watch", "pods", ns)
        assert not _can(kube_apiserver, ns, sa, "get", "secrets", ns)
        assert not _can(kube_apiserver, ns, sa, "patch", "deployments.apps", other)
        assert not _can(kube_apiserver, ns, sa, "list", "pods", other)
        assert not _can(kube_apiserver, ns, sa, "list", "pods", "")
        assert not _can(kube_apiserver, ns, sa, "create", "namespaces", "")
