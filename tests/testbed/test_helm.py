"""helm (built with its version ldflags) installs a chart into the test bed and waits for it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.testbed import BedCluster

CHART = """\
apiVersion: v2
name: tiny
version: 0.1.0
appVersion: "1.0"
kubeVersion: ">=1.30.0-0"
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-info
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  greeting: {{ .Values.greeting | quote }}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 2
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: app
        image: {{ .Values.image | quote }}
"""


def _chart(root: Path) -> Path:
    chart = root / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART)
    (chart / "values.yaml").write_text('greeting: hello\nimage: "registry.test/tiny:v1"\n')
    (chart / "templates" / "configmap.yaml").write_text(CONFIGMAP)
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    return chart


def test_helm_install_waits_for_a_real_rollout(kube_full: BedCluster, tmp_path: Path) -> None:
    chart = _chart(tmp_path)
    ns = kube_full.create_namespace("helm")
    kube_full.run(
        "helm", "install", "demo", str(chart), "-n", ns, "--set", "greeting=hi",
        "--wait", "--timeout", "90s",
    )  # fmt: skip

    releases = json.loads(kube_full.run("helm", "list", "-n", ns, "-o", "json").stdout)
    assert [(r["name"], r["status"]) for r in releases] == [("demo", "deployed")]
    info = kube_full.get_json(f"/api/v1/namespaces/{ns}/configmaps/demo-info")["data"]
    assert info["greeting"] == "hi"
    # helm saw the server's real, stamped version (not v0.0.0-master)
    assert info["kubeVersion"] == kube_full.get_json("/version")["gitVersion"]
    deploy = kube_full.get_json(f"/apis/apps/v1/namespaces/{ns}/deployments/demo")
    assert deploy["status"]["availableReplicas"] == 2


def test_helm_client_defaults_match_its_client_go(
    kube_apiserver: BedCluster, tmp_path: Path
) -> None:
    # Without the version ldflags helm v3 assumes Kubernetes 1.20 offline, and this chart's
    # kubeVersion constraint (>=1.30) would make `helm template` fail.
    chart = _chart(tmp_path)
    out = kube_apiserver.run("helm", "template", "offline", str(chart))
    assert 'kubeVersion: "v1.' in out.stdout
    assert "v1.20." not in out.stdout
