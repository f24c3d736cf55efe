"""The Helm chart: lint --strict, schema, and its rendered objects accepted by a real API server.

``helm template`` output is server-side dry-run applied (as admin) for both RBAC scopes and every
credential option, and the agent's pod spec is dry-run created as a Pod in a namespace that
enforces the ``restricted`` Pod Security Standard.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bumper import settingsdoc
from bumper.agent import kube
from tests.agent.bed import CHART
from tests.support.testbed import BedCluster

OPTIONS = {
    "cluster-token": [
        "rbac.scope=cluster",
        "git.auth=token",
        "git.existingSecret=git-creds",
        "webhook.existingSecret=hook",
        "report.url=https://bumper.example",
        "report.existingSecret=agent-report",
    ],
    "namespace-ssh": [
        "rbac.scope=namespace",
        "git.auth=ssh",
        "git.existingSecret=git-creds",
        "git.signers.configMap=signers",
        "forge.kind=github",
        "forge.repo=acme/config",
        "forge.existingSecret=forge",
        "networkPolicy.enabled=true",
        "networkPolicy.apiServer.cidrs={10.96.0.1/32}",
        "networkPolicy.gitHost.cidrs={140.82.112.0/20}",
        "agent.allowedRemotes={https://github.com/acme/}",
    ],
}


def helm(cluster: BedCluster, *args: str, check: bool = True) -> Any:
    return cluster.run("helm", *args, check=check)


def test_lint_strict_is_clean(kube_apiserver: BedCluster) -> None:
    done = helm(kube_apiserver, "lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in done.stdout
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout


def test_schema_refuses_bad_values(kube_apiserver: BedCluster) -> None:
    bad_values = ("rbac.scope=everything", "agent.render=jsonnet", "agent.maxShrink=2")
    for bad in (*bad_values, "report.url=https://user:pw@bumper.example"):
        done = helm(kube_apiserver, "template", "x", str(CHART), "--set", bad, check=False)
        assert done.returncode != 0 and "schema" in done.stderr.lower(), (bad, done.stderr)


def rendered(cluster: BedCluster, namespace: str, options: list[str]) -> list[dict[str, Any]]:
    args = ["template", "rel", str(CHART), "--namespace", namespace]
    args += ["--set", "agent.repoUrl=https://git.example/config.git"]
    args += ["--set", f"agent.namespace={namespace}"]
    for option in options:
        args += ["--set", option]
    docs = [d for d in yaml.safe_load_all(helm(cluster, *args).stdout) if d]
    assert {d["kind"] for d in docs} >= {"Deployment", "ServiceAccount", "ConfigMap", "Service"}
    return docs


@pytest.mark.parametrize("variant", sorted(OPTIONS))
def test_template_passes_a_server_side_dry_run(
    kube_apiserver: BedCluster, tmp_path: Path, variant: str
) -> None:
    namespace = kube_apiserver.create_namespace("chart")
    client = kube.Client(kube.from_kubeconfig(kube_apiserver.kubeconfig))
    docs = rendered(kube_apiserver, namespace, OPTIONS[variant])
    kinds = {d["kind"] for d in docs}
    if variant.startswith("cluster"):
        assert {"ClusterRole", "ClusterRoleBinding"} <= kinds
    else:
        assert "ClusterRole" not in kinds and {"Role", "NetworkPolicy"} <= kinds
    for doc in docs:
        doc["metadata"].setdefault("namespace", namespace)
        res = client.resource(doc["apiVersion"], doc["kind"])
        if not res.namespaced:
            doc["metadata"].pop("namespace")
        client.apply(res, doc, manager="helm-test", force=True, dry_run=True)
    config = yaml.safe_load(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["agent.yaml"])
    assert config["repo_url"] == "https://git.example/config.git"
    assert not any("redis" in key for key in config)
    if "report.url=https://bumper.example" in OPTIONS[variant]:
        assert config["report_url"] == "https://bumper.example"
        token_path = Path(config["report_token_file"])
        pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert Path(mounts["report"]) == token_path.parent
        assert volumes["report"]["secret"]["secretName"] == "agent-report"


def test_pod_meets_the_restricted_pod_security_standard(kube_apiserver: BedCluster) -> None:
    namespace = kube_apiserver.create_restricted_namespace()
    docs = rendered(kube_apiserver, namespace, OPTIONS["cluster-token"])
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "agent-pss-check", "namespace": namespace},
        "spec": deployment["spec"]["template"]["spec"],
    }
    created = kube_apiserver.api(
        "POST", f"/api/v1/namespaces/{namespace}/pods", params={"dryRun": "All"}, json=pod
    )
    assert created.status_code == 201, created.text
    container = pod["spec"]["containers"][0]
    assert container["resources"]["requests"] and container["livenessProbe"]
    # The same pod without its security context is refused: the check is real.
    del pod["spec"]["securityContext"], container["securityContext"]
    refused = kube_apiserver.api(
        "POST", f"/api/v1/namespaces/{namespace}/pods", params={"dryRun": "All"}, json=pod
    )
    assert refused.status_code == 403 and "restricted" in refused.text


def test_chart_env_names_are_documented_settings() -> None:
    """The chart sets only variables of the one scheme (docs/settings.md), none by an old name."""
    text = (CHART / "templates" / "deployment.yaml").read_text()
    names = set(re.findall(r"- name: (BUMPER_\w+)", text))
    documented = {row[0].strip("`") for row in settingsdoc.rows()}
    assert names and names <= documented, names - documented
    assert "BUMPER_AGENT__STATE_NAMESPACE" in names
    assert not any("REDIS" in name for name in names)  # agents report over the web's API
