"""The agent on the test bed: the chart installed by helm, the agent run locally as its SA.

``AgentBed.install`` runs ``helm install`` of ``charts/bumper-agent`` into a fresh namespace
(the chart's Deployment gets a fake kwok pod; it is not the process under test). The agent
process under test runs here, with the chart-rendered config file and a token of the chart's
ServiceAccount, so the chart's RBAC is what the agent gets.

``PushMode`` drives the same reconcile engine through the worker's push adapter
(``worker.pushdeploy.Deployer``) on the same bed: same name, namespaces, ServiceAccount and
config repo, so one scenario can assert the same records for both modes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import yaml

from bumper import gitrepo
from bumper.agent import kube
from bumper.core import config
from bumper.reconcile import ports
from tests.agent.configrepo import ConfigRepo
from tests.support.testbed import BedCluster
from worker import pushdeploy, records
from worker.store import Store

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "bumper-agent"


class AgentBed:
    def __init__(self, cluster: BedCluster, tmp: Path) -> None:
        self.cluster = cluster
        self.tmp = tmp
        suffix = uuid.uuid4().hex[:6]
        self.release = f"a{suffix}"
        self.name = f"agent-{suffix}"
        self.apps = f"apps-{suffix}"
        self.state_ns = cluster.create_namespace("agent")
        self.repo = ConfigRepo(tmp / "config-repo")
        self.config_file = tmp / "agent.yaml"
        self.token_file = tmp / "token"

    # -- set-up -----------------------------------------------------------------------------

    def install(
        self, *values: str, scope: str = "cluster", values_file: Path | None = None
    ) -> None:
        """``helm install`` the chart, then fetch its config and a token of its ServiceAccount."""
        args = [
            "install",
            self.release,
            str(CHART),
            "--namespace",
            self.state_ns,
            "--set",
            f"agent.repoUrl={self.repo.path}",
            "--set",
            f"agent.name={self.name}",
            "--set",
            f"agent.namespace={self.apps}",
            "--set",
            f"rbac.scope={scope}",
            "--set",
            "agent.healthTimeout=20",
        ]
        for value in values:
            args += ["--set", value]
        if values_file is not None:
            args += ["--values", str(values_file)]
        self.cluster.run("helm", *args)
        cm = self.admin_get(
            f"/api/v1/namespaces/{self.state_ns}/configmaps/{self.release}-bumper-agent"
        )
        assert cm is not None, "the chart did not create its ConfigMap"
        self.config_file.write_text(cm["data"]["agent.yaml"])
        token = self.cluster.service_account_token(
            self.state_ns, f"{self.release}-bumper-agent", create=False
        )
        self.token_file.write_text(token)
        self.token_file.chmod(0o600)

    def agent_argv(self, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bumper",
            "agent",
            "--config",
            str(self.config_file),
            "--server",
            self.cluster.server,
            "--token-file",
            str(self.token_file),
            "--ca-file",
            str(self.cluster.ca_file),
            "--state-namespace",
            self.state_ns,
            "--cache-dir",
            str(self.tmp / "cache"),
            *extra,
        ]

    def agent_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUMPER_AGENT_")}
        env["PYTHONPATH"] = str(REPO_ROOT)
        return env

    def sync(self, *extra: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """One ``bumper agent --once`` pass as the chart's ServiceAccount."""
        return subprocess.run(
            self.agent_argv("--once", *extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.agent_env(),
            cwd=REPO_ROOT,
        )

    def start(self, *extra: str) -> subprocess.Popen[str]:
        log = open(self.tmp / "agent.log", "a")  # noqa: SIM115 - closed by the process's end
        return subprocess.Popen(
            self.agent_argv(*extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.agent_env(),
            cwd=REPO_ROOT,
        )

    # -- reading the cluster as admin -------------------------------------------------------

    def admin_get(self, path: str) -> dict[str, Any] | None:
        response = self.cluster.api("GET", path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def status(self) -> dict[str, str]:
        cm = self.admin_get(f"/api/v1/namespaces/{self.state_ns}/configmaps/{self.name}-status")
        return dict((cm or {}).get("data") or {})

    def inventory(self) -> list[list[str]]:
        cm = self.admin_get(f"/api/v1/namespaces/{self.state_ns}/configmaps/{self.name}-inventory")
        rows: list[list[str]] = json.loads(((cm or {}).get("data") or {}).get("objects", "[]"))
        return rows

    def configmap(self, name: str) -> dict[str, Any] | None:
        return self.admin_get(f"/api/v1/namespaces/{self.apps}/configmaps/{name}")

    def deployment(self, name: str) -> dict[str, Any] | None:
        return self.admin_get(f"/apis/apps/v1/namespaces/{self.apps}/deployments/{name}")

    def patch(self, path: str, patch: dict[str, Any]) -> None:
        response = self.cluster.api(
            "PATCH",
            path,
            data=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
            params={"fieldManager": "kubectl-edit"},
        )
        assert response.status_code == 200, response.text

    def events(self, namespace: str, reason: str) -> list[dict[str, Any]]:
        data = self.admin_get(f"/api/v1/namespaces/{namespace}/events") or {}
        return [e for e in data.get("items", []) if e.get("reason") == reason]


# -- push mode on the same bed ----------------------------------------------------------------

PUSH_RULE = config.Image.model_validate(
    {
        "name": "web",
        "image": "example.com/shop/web",
        "policy": {"semver": ">=1"},
        "targets": [{"repo": "config", "paths": ["**"], "deploy": "push"}],
    }
)


class PushMode:
    """One push deploy per ``sync``: a checkout of the bed's repo, reconciled as the chart's SA.

    ``redis_url``: bad images also go to that Redis through the worker's ``Store``."""

    def __init__(self, bed: AgentBed, redis_url: str | None = None) -> None:
        self.bed = bed
        connection = kube.Connection(
            server=bed.cluster.server,
            ca_file=str(bed.cluster.ca_file),
            token_file=str(bed.token_file),
        )
        self.client = kube.Client(connection, retry_for=30)
        self.cache = gitrepo.RepoCache(bed.tmp / "push-cache")
        self.store = Store(redis.Redis.from_url(redis_url)) if redis_url else None

    def sync(self, *, health_timeout: float = 20) -> records.Deployment:
        cluster = config.Cluster(
            namespace=self.bed.apps,
            state_namespace=self.bed.state_ns,
            health_timeout=health_timeout,
            paths=["."],
        )
        sink = self.store.mark_bad_images if self.store else ports.no_sink
        deployer = pushdeploy.Deployer(
            self.client, cluster, self.bed.name, PUSH_RULE, bad_images=sink
        )
        with self.cache.checkout(str(self.bed.repo.path), self.bed.repo.branch) as checkout:
            return deployer.reconcile(checkout, "web/0", time.monotonic())


# -- manifests --------------------------------------------------------------------------------


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(name: str, ns: str | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {"k": "v"}}


def deployment(
    name: str, image: str, *, replicas: int = 2, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    labels = {"app": name}
    template: dict[str, Any] = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": name, "image": image}]},
    }
    if annotations:
        template["metadata"]["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template},
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def dump(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False)
