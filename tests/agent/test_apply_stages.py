"""The applier's initial sync on the test bed's API server: stages, and which dry-runs it sends.

A dry-run of an object whose Namespace this same sync creates is answered 404 whatever the object
holds, so the applier does not send it (the object's real apply checks it); every change the
server can check is still dry-run before anything is applied; a refused stage stops the sync
before the next one. Runs as the admin against the apiserver-only bed (no controllers needed).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from bumper.agent import apply, kube, manifests, phases
from bumper.agent import render as agent_render
from bumper.errors import ApplyError
from tests.agent.bed import configmap, namespace
from tests.support.testbed import BedCluster


class CountingClient(kube.Client):
    """The real client, counting the dry-runs it sends (by object name)."""

    def __init__(self, conn: kube.Connection) -> None:
        super().__init__(conn)
        self.dry_runs: list[str] = []

    def apply(
        self, res: kube.Resource, obj: kube.Obj, *, manager: str, force: bool, dry_run: bool = False
    ) -> kube.Obj:
        if dry_run:
            with self._lock:
                self.dry_runs.append(obj["metadata"]["name"])
        return super().apply(res, obj, manager=manager, force=force, dry_run=dry_run)


@pytest.fixture
def client(kube_apiserver: BedCluster) -> CountingClient:
    return CountingClient(kube.from_kubeconfig(kube_apiserver.kubeconfig))


def applier(client: kube.Client, ns: str) -> apply.Applier:
    return apply.Applier(client, agent=f"stages-{uuid.uuid4().hex[:6]}", default_namespace=ns)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def exists(client: kube.Client, api_version: str, kind: str, name: str, ns: str = "") -> bool:
    return client.get(client.resource(api_version, kind), name, ns or None) is not None


def webhook(name: str) -> dict[str, Any]:
    """A webhook configuration that can intercept nothing: a group nobody serves, Ignore."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "stages.bumper.invalid",
                "clientConfig": {"url": "https://stages.bumper.invalid/validate"},
                "rules": [
                    {
                        "apiGroups": ["stages.bumper.invalid"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["nothings"],
                    }
                ],
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
            }
        ],
    }


def test_objects_of_a_namespace_this_sync_creates_are_not_dry_run(client: CountingClient) -> None:
    ns = unique("fresh")
    render = [namespace(ns), *(configmap(f"cm-{i}", ns) for i in range(12))]
    result = applier(client, ns).sync(render, [])
    assert len(result.applied) == 13
    assert client.dry_runs == [ns]  # the Namespace itself only: its ConfigMaps could not be
    assert all(exists(client, "v1", "ConfigMap", f"cm-{i}", ns) for i in range(12))


def test_an_unquoted_date_reaches_the_server_as_its_text(
    client: CountingClient, tmp_path: Path
) -> None:
    """As ``kubectl apply`` sends it; it once crashed the sync (a date is not JSON)."""
    ns = unique("dates")
    (tmp_path / "cm.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release\n  namespace: {ns}\n"
        "data:\n  released: 2024-01-01\n"
    )
    render = [namespace(ns), *agent_render.render(tmp_path, agent_render.RenderSpec())]
    applier(client, ns).sync(render, [])
    live = client.get(client.resource("v1", "ConfigMap"), "release", ns)
    assert live is not None and live["data"] == {"released": "2024-01-01"}


def test_a_refusal_in_a_namespace_that_exists_still_applies_nothing(
    client: CountingClient,
) -> None:
    ns = unique("there")  # exists, but not the agent's yet: its LIST does not show it
    client.create(client.resource("v1", "Namespace"), namespace(ns))
    bad = configmap("Not_A_Valid_Name", ns)
    render = [namespace(ns), configmap("fine", ns), bad]
    clock = phases.Clock()
    with pytest.raises(ApplyError, match="dry-run refused"):
        applier(client, ns).sync(render, [], clock=clock)
    assert sorted(client.dry_runs) == sorted([ns, "fine", "Not_A_Valid_Name"])
    assert not exists(client, "v1", "ConfigMap", "fine", ns)
    assert list(clock.seconds) == ["plan", "list", "dry_run"]  # the failed sync's time, too


@pytest.mark.parametrize(
    ("field", "value", "refusal"),
    [("bogus", 1, "not declared in schema"), ("data", {"k": 5}, "expected string")],
)
def test_an_unknown_field_or_a_wrong_type_is_refused_before_anything_is_applied(
    client: CountingClient, field: str, value: Any, refusal: str
) -> None:
    """The applier sends ``fieldValidation=Ignore`` (no Warning headers to compute): the
    typed conversion of server-side apply still refuses both, so the dry-run does."""
    ns = unique("typed")
    client.create(client.resource("v1", "Namespace"), namespace(ns))
    bad = {**configmap("bad", ns), field: value}
    with pytest.raises(ApplyError, match=refusal):
        applier(client, ns).sync([namespace(ns), configmap("fine", ns), bad], [])
    assert not exists(client, "v1", "ConfigMap", "fine", ns)
    assert not exists(client, "v1", "ConfigMap", "bad", ns)


def restricted_client(cluster: BedCluster, tmp_path: Path) -> kube.Client:
    """An account that may apply Namespaces and ConfigMaps anywhere, and only read Secrets."""
    home = cluster.create_namespace("home")
    name = unique("configmaps-only")
    rules = [
        {"apiGroups": [""], "resources": ["namespaces", "configmaps"], "verbs": APPLY_VERBS},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["*"], "verbs": ["create"]},
    ]
    cluster.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        {"metadata": {"name": name}, "rules": rules},
    )
    cluster.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"kind": "ServiceAccount", "name": "agent", "namespace": home}],
        },
    )
    token = cluster.service_account_token(home, "agent")
    config = cluster.kubeconfig_for_token(token, tmp_path / "restricted.kubeconfig")
    return kube.Client(kube.from_kubeconfig(config))


APPLY_VERBS = ["get", "list", "create", "patch"]


def test_a_kind_the_agent_may_not_apply_in_a_new_namespace_applies_nothing(
    kube_apiserver: BedCluster, client: CountingClient, tmp_path: Path
) -> None:
    restricted = restricted_client(kube_apiserver, tmp_path)
    ns = unique("forbidden")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    render = [namespace(ns), configmap("fine", ns), secret]
    with pytest.raises(ApplyError, match=f"Secret in new namespace {ns}: forbidden"):
        applier(restricted, ns).sync(render, [])
    assert not exists(client, "v1", "Namespace", ns)


def test_a_refused_stage_stops_before_the_next(client: CountingClient) -> None:
    ns, hook = unique("refused"), unique("stages-hook")
    render = [namespace(ns), configmap("Not_A_Valid_Name", ns), webhook(hook)]
    try:
        with pytest.raises(ApplyError, match="Not_A_Valid_Name"):
            applier(client, ns).sync(render, [])
        assert exists(client, "v1", "Namespace", ns)  # its stage came first
        assert not exists(
            client, "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", hook
        )
    finally:
        res = client.resource("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")
        client.delete(res, hook)


def test_stages_put_roles_before_bindings_and_webhooks_last() -> None:
    kinds = [
        "ValidatingWebhookConfiguration",
        "RoleBinding",
        "Deployment",
        "Role",
        "MutatingWebhookConfiguration",
        "ClusterRoleBinding",
        "ClusterRole",
        "Namespace",
        "CustomResourceDefinition",
    ]
    ordered = [d["kind"] for d in manifests.ordered([{"kind": k} for k in kinds])]
    assert ordered == [
        "CustomResourceDefinition",
        "Namespace",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "Deployment",
        "ClusterRoleBinding",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ]


def test_the_proxy_environment_is_honoured_unless_no_proxy_covers_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = "https://api.cluster.example:6443"
    assert kube._proxy_for(server) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert kube._proxy_for(server) == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", ".cluster.example")
    assert kube._proxy_for(server) is None
