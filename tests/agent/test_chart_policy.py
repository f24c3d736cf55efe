"""The chart's least privilege (issue 13, items 5 and 6), read from ``helm template`` output.

The default RBAC is a Role in the one namespace the agent manages, over named kinds only; cluster
scope and Secrets take an explicit value; the egress NetworkPolicy lets the pod reach only the
destinations given. The test bed's CNI enforces no policy, so its rules are asserted here; the
API server accepts the rendered objects in tests/agent/test_chart.py's server-side dry-run.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bumper.agent import config
from tests.agent.bed import CHART

RELEASE_NS, APPS = "agent-system", "apps"
MANAGED_KINDS = {
    "configmaps",
    "services",
    "deployments",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "ingresses",
    "networkpolicies",
    "events",
}
API_SERVER, GIT_HOSTS = "10.96.0.1/32", ["140.82.112.0/20", "192.30.252.0/22"]


class Helm:
    def __init__(self, bins: Path, tmp_path: Path) -> None:
        self.helm = str(bins / "helm")
        self.tmp = tmp_path
        home = str(tmp_path / "helm-home")
        self.env = {**os.environ, "HELM_CACHE_HOME": home, "HELM_CONFIG_HOME": home}

    def template(
        self, *values: str, values_file: dict[str, Any] | None = None
    ) -> subprocess.CompletedProcess[str]:
        args = [self.helm, "template", "rel", str(CHART), "--namespace", RELEASE_NS]
        for value in ("agent.repoUrl=https://git.example/config.git", f"agent.namespace={APPS}"):
            args += ["--set", value]
        for value in values:
            args += ["--set", value]
        if values_file is not None:
            path = self.tmp / "values.json"
            path.write_text(json.dumps(values_file))
            args += ["--values", str(path)]
        return subprocess.run(args, capture_output=True, text=True, env=self.env, check=False)

    def docs(self, *values: str, values_file: dict[str, Any] | None = None) -> list[Any]:
        done = self.template(*values, values_file=values_file)
        assert done.returncode == 0, done.stderr
        return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.fixture
def helm(testbed_bin_dir: Path, tmp_path: Path) -> Helm:
    return Helm(testbed_bin_dir, tmp_path)


def of_kind(docs: list[Any], kind: str) -> list[Any]:
    return [d for d in docs if d["kind"] == kind]


def granted(rules: list[dict[str, Any]]) -> set[str]:
    return {resource for rule in rules for resource in rule["resources"]}


def test_default_rbac_is_a_role_in_the_managed_namespace_over_named_kinds(helm: Helm) -> None:
    docs = helm.docs()
    assert of_kind(docs, "ClusterRole") == [] and of_kind(docs, "ClusterRoleBinding") == []
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in of_kind(docs, "Role")}
    assert set(roles) == {(APPS, "rel-bumper-agent"), (RELEASE_NS, "rel-bumper-agent-state")}
    managed = roles[(APPS, "rel-bumper-agent")]["rules"]
    assert granted(managed) == MANAGED_KINDS
    every_rule = [rule for role in roles.values() for rule in role["rules"]]
    for rule in every_rule:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
        assert not {"secrets", "serviceaccounts", "namespaces"} & set(rule["resources"]), rule
        assert set(rule["verbs"]) <= {"get", "list", "create", "update", "patch", "delete"}
    assert {v for rule in managed for v in rule["verbs"]} == {
        "get",
        "list",
        "create",
        "patch",
        "delete",
    }
    (binding,) = [b for b in of_kind(docs, "RoleBinding") if b["metadata"]["namespace"] == APPS]
    assert binding["roleRef"]["name"] == "rel-bumper-agent"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rel-bumper-agent", "namespace": RELEASE_NS}
    ]
    agent_yaml = of_kind(docs, "ConfigMap")[0]["data"]["agent.yaml"]
    assert yaml.safe_load(agent_yaml)["scope"] == "namespace"


def test_cluster_scope_is_explicit_and_still_grants_no_secrets(helm: Helm) -> None:
    docs = helm.docs("rbac.scope=cluster")
    (role,) = of_kind(docs, "ClusterRole")
    assert granted(role["rules"]) == MANAGED_KINDS | {"namespaces"}
    assert [b["roleRef"]["name"] for b in of_kind(docs, "ClusterRoleBinding")] == [
        "rel-bumper-agent"
    ]


SECRETS_RULE = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "patch"]}


def test_secrets_need_allow_secrets(helm: Helm) -> None:
    values: dict[str, Any] = {"rbac": {"rules": [SECRETS_RULE]}}
    refused = helm.template(values_file=values)
    assert refused.returncode != 0 and "rbac.allowSecrets=true" in refused.stderr
    values["rbac"]["allowSecrets"] = True
    (role, _state) = of_kind(helm.docs(values_file=values), "Role")
    assert "secrets" in granted(role["rules"])


@pytest.mark.parametrize("field", ["apiGroups", "resources", "verbs"])
def test_a_wildcard_is_refused(helm: Helm, field: str) -> None:
    rule = {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"], field: ["*"]}
    refused = helm.template(values_file={"rbac": {"rules": [rule]}})
    assert refused.returncode != 0 and "rbac" in refused.stderr


def test_network_policy_is_off_by_default_and_needs_its_destinations(helm: Helm) -> None:
    assert of_kind(helm.docs(), "NetworkPolicy") == []
    refused = helm.template("networkPolicy.enabled=true")
    assert refused.returncode != 0 and "networkPolicy.apiServer" in refused.stderr
    refused = helm.template(
        "networkPolicy.enabled=true", f"networkPolicy.apiServer.cidrs={{{API_SERVER}}}"
    )
    assert refused.returncode != 0 and "networkPolicy.gitHost" in refused.stderr


def test_network_policy_allows_egress_only_to_dns_api_server_and_git_host(helm: Helm) -> None:
    docs = helm.docs(
        "networkPolicy.enabled=true",
        f"networkPolicy.apiServer.cidrs={{{API_SERVER}}}",
        f"networkPolicy.gitHost.cidrs={{{','.join(GIT_HOSTS)}}}",
    )
    (policy,) = of_kind(docs, "NetworkPolicy")
    pod_labels = of_kind(docs, "Deployment")[0]["spec"]["template"]["metadata"]["labels"]
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert spec["policyTypes"] == ["Egress"]
    assert policy["metadata"]["namespace"] == RELEASE_NS
    dns, api, git = spec["egress"]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert api["to"] == [{"ipBlock": {"cidr": API_SERVER}}]
    assert {p["port"] for p in api["ports"]} == {443, 6443}
    assert git["to"] == [{"ipBlock": {"cidr": cidr}} for cidr in GIT_HOSTS]
    assert {p["port"] for p in git["ports"]} == {443, 22}
    for rule in spec["egress"]:  # an empty "to" or no ports would allow everything
        assert rule["to"] and rule["ports"], rule


def test_registries_and_selectors_are_added_when_given(helm: Helm) -> None:
    gitea = {"podSelector": {"matchLabels": {"app": "gitea"}}}
    values = {
        "networkPolicy": {
            "enabled": True,
            "dns": {"enabled": False},
            "apiServer": {"cidrs": [API_SERVER]},
            "gitHost": {"peers": [gitea]},
            "registries": {"cidrs": ["198.51.100.0/24"]},
        }
    }
    (policy,) = of_kind(helm.docs(values_file=values), "NetworkPolicy")
    assert [rule["to"] for rule in policy["spec"]["egress"]] == [
        [{"ipBlock": {"cidr": API_SERVER}}],
        [gitea],
        [{"ipBlock": {"cidr": "198.51.100.0/24"}}],
    ]


def test_policy_values_reach_the_agents_config(helm: Helm, tmp_path: Path) -> None:
    docs = helm.docs(
        "agent.allowedRemotes={https://charts.example/stable/}",
        "agent.allowRewind=true",
        "agent.maxVerifiedCommits=40",
    )
    path = tmp_path / "agent.yaml"
    path.write_text(of_kind(docs, "ConfigMap")[0]["data"]["agent.yaml"])
    cfg = config.load({}, path)
    assert cfg.allowed_remotes == ["https://charts.example/stable/"]
    assert (cfg.allow_rewind, cfg.max_verified_commits, cfg.scope) == (True, 40, "namespace")
    refused = helm.template("agent.allowedRemotes={https://}")
    assert refused.returncode != 0 and "allowedRemotes" in refused.stderr
