"""The apiserver-mode test bed is a real kube-apiserver: SSA, dry-run, RBAC, version stamps."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support.testbed import BedCluster
from tests.support.testbed_proc import REPO_ROOT, wait_until

APPLY = {"Content-Type": "application/apply-patch+yaml"}


def _configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def _managers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["manager"]: e for e in obj["metadata"].get("managedFields", [])}


def test_server_reports_the_version_the_tools_module_pins(kube_apiserver: BedCluster) -> None:
    gomod = (REPO_ROOT / "testbed" / "k8s" / "go.mod").read_text()
    match = re.search(r"k8s\.io/kubernetes (v\d+\.\d+\.\d+)", gomod)
    assert match, "testbed/k8s/go.mod does not pin k8s.io/kubernetes"
    version = kube_apiserver.get_json("/version")
    assert version["gitVersion"] == match.group(1)
    assert version["minor"] == match.group(1).split(".")[1]


def test_server_side_apply_tracks_managers_and_reports_conflicts(
    kube_apiserver: BedCluster,
) -> None:
    ns = kube_apiserver.create_namespace("ssa")
    path = f"/api/v1/namespaces/{ns}/configmaps/settings"
    body = json.dumps(_configmap("settings", {"image": "app:v1", "replicas": "1"}))

    first = kube_apiserver.api(
        "PATCH", path, params={"fieldManager": "alice"}, data=body, headers=APPLY
    )
    assert first.status_code == 201, first.text
    alice = _managers(first.json())["alice"]
    assert alice["operation"] == "Apply"
    assert "f:image" in alice["fieldsV1"]["f:data"]

    # bob applies a different value for a field alice owns: a conflict naming alice and the field
    theirs = json.dumps(_configmap("settings", {"image": "app:v2"}))
    clash = kube_apiserver.api(
        "PATCH", path, params={"fieldManager": "bob"}, data=theirs, headers=APPLY
    )
    assert clash.status_code == 409, clash.text
    status = clash.json()
    assert status["reason"] == "Conflict"
    assert any(
        ".data.image" in c.get("field", "") and "alice" in c.get("message", "")
        for c in status["details"]["causes"]
    ), status

    forced = kube_apiserver.api(
        "PATCH", path, params={"fieldManager": "bob", "force": "true"}, data=theirs, headers=APPLY
    )
    assert forced.status_code == 200, forced.text
    obj = forced.json()
    assert obj["data"] == {"image": "app:v2", "replicas": "1"}
    managers = _managers(obj)
    assert "f:image" in managers["bob"]["fieldsV1"]["f:data"]
    assert "f:image" not in managers["alice"]["fieldsV1"]["f:data"]
    assert "f:replicas" in managers["alice"]["fieldsV1"]["f:data"]


def test_dry_run_all_validates_but_persists_nothing(kube_apiserver: BedCluster) -> None:
    ns = kube_apiserver.create_namespace("dry")
    base = f"/api/v1/namespaces/{ns}/configmaps"

    dry = kube_apiserver.api(
        "POST", base, params={"dryRun": "All"}, json=_configmap("c", {"a": "1"})
    )
    assert dry.status_code == 201, dry.text
    assert dry.json()["metadata"]["name"] == "c"
    assert kube_apiserver.api("GET", f"{base}/c").status_code == 404

    # validation still runs under dry-run: an invalid name is rejected, not "accepted and dropped"
    bad = kube_apiserver.api(
        "POST", base, params={"dryRun": "All"}, json=_configmap("Bad_Name", {})
    )
    assert bad.status_code == 422, bad.text

    kube_apiserver.create(base, _configmap("c", {"a": "1"}))
    # a dry-run apply goes through the real field-ownership checks too (force: we take .data.a)
    patched = kube_apiserver.api(
        "PATCH",
        f"{base}/c",
        params={"dryRun": "All", "fieldManager": "t", "force": "true"},
        data=json.dumps(_configmap("c", {"a": "2"})),
        headers=APPLY,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"] == {"a": "2"}
    assert "t" in _managers(patched.json())
    assert kube_apiserver.get_json(f"{base}/c")["data"] == {"a": "1"}


def test_rbac_denies_an_unbound_service_account_then_allows_it(
    kube_apiserver: BedCluster,
) -> None:
    ns = kube_apiserver.create_namespace("rbac")
    token = kube_apiserver.service_account_token(ns, "agent")
    configmaps = f"/api/v1/namespaces/{ns}/configmaps"

    denied = kube_apiserver.api("GET", configmaps, token=token)
    assert denied.status_code == 403, denied.text
    assert f"system:serviceaccount:{ns}:agent" in denied.json()["message"]

    kube_apiserver.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
        {
            "metadata": {"name": "read-configmaps"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
    )
    kube_apiserver.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
        {
            "metadata": {"name": "agent-reads"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "read-configmaps",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "agent", "namespace": ns}],
        },
    )
    # the authorizer's informer catches up asynchronously
    wait_until(
        lambda: kube_apiserver.api("GET", configmaps, token=token).status_code == 200,
        30,
        "the RoleBinding to take effect",
    )
    # only what was granted: secrets and writes stay forbidden
    assert (
        kube_apiserver.api("GET", f"/api/v1/namespaces/{ns}/secrets", token=token).status_code
        == 403
    )
    write = kube_apiserver.api("POST", configmaps, token=token, json=_configmap("x", {}))
    assert write.status_code == 403


def test_kubectl_and_the_kubeconfig_work(kube_apiserver: BedCluster, tmp_path: Path) -> None:
    out = kube_apiserver.run("kubectl", "version", "-o", "json")
    versions = json.loads(out.stdout)
    assert versions["serverVersion"]["gitVersion"] == versions["clientVersion"]["gitVersion"]
    ns = kube_apiserver.create_namespace("kc")
    token = kube_apiserver.service_account_token(ns, "nobody")
    kubeconfig = kube_apiserver.kubeconfig_for_token(token, tmp_path / "sa.kubeconfig")
    can = kube_apiserver.run(
        "kubectl", "auth", "can-i", "list", "pods", "-n", ns, kubeconfig=kubeconfig, check=False
    )
    assert can.stdout.strip() == "no"
