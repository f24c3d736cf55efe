"""A real Kubernetes control plane on loopback, built by ``make testbed``.

Two modes:
- ``apiserver``: etcd + kube-apiserver (RBAC, client-cert admin in system:masters, SA signing keys).
  No controllers: no rollouts, no garbage collection, namespaces never finish deleting; the
  ServiceAccount admission plugin is off (nobody creates "default" ServiceAccounts).
- ``full``: + kube-controller-manager, kube-scheduler and kwok (fake kubelets) with two fake
  Nodes, so Deployments really roll out. Pods marked by the test bed's own kwok stage
  (``testbed/stages/pod-fail.yaml``) start but never become Ready.

Everything binds 127.0.0.1 on random ports; each component logs to ``log_dir/<name>.log``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support import testbed_pki
from tests.support.testbed_proc import (
    STAGES_DIR,
    Proc,
    free_port,
    http_get,
    stop_all,
    tail,
    wait_until,
)

FAIL_ANNOTATION = "testbed.bumper.dev/fail"
NODE_NAMES = ("kwok-node-0", "kwok-node-1")
# The real node (testbed/node.sh) registers with this taint: only pods that tolerate it land there.
REAL_NODE_TAINT = {"key": "bumper.dev/real-node", "value": "true", "effect": "NoSchedule"}
REAL_NODE_TOLERATION = {
    "key": "bumper.dev/real-node",
    "operator": "Equal",
    "value": "true",
    "effect": "NoSchedule",
}


def placement(node_name: str) -> dict[str, Any]:
    """A pod spec's ``nodeSelector`` and ``tolerations`` for the real node ``node_name``."""
    return {
        "nodeSelector": {"kubernetes.io/hostname": node_name},
        "tolerations": [dict(REAL_NODE_TOLERATION)],
    }


KWOK_ANNOTATION = "kwok.x-k8s.io/node"
START_TIMEOUT = 90.0


@dataclass
class BedCluster:
    """What a test gets from ``kube_apiserver`` / ``kube_full``."""

    mode: str
    workdir: Path
    bin_dir: Path
    log_dir: Path
    kubeconfig: Path
    server: str
    ca_file: Path
    admin_cert: Path
    admin_key: Path
    procs: list[Proc] = field(default_factory=list)
    start_seconds: float = 0.0

    # -- paths of the client tools built alongside the control plane
    @property
    def helm(self) -> Path:
        return self.bin_dir / "helm"

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def kustomize(self) -> Path:
        return self.bin_dir / "kustomize"

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        """Environment for helm/kubectl: this cluster's kubeconfig, their state in the workdir."""
        home = self.workdir / "helm-home"
        return {
            **os.environ,
            "KUBECONFIG": str(kubeconfig or self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            # kubectl's discovery/http cache, else ~/.kube/cache grows by one dir per random port.
            "KUBECACHEDIR": str(self.workdir / "kube-cache"),
        }

    def run(
        self, tool: str, *args: str, kubeconfig: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``helm``/``kubectl``/``kustomize`` from the bin dir against this cluster."""
        proc = subprocess.run(
            [str(self.bin_dir / tool), *args],
            env=self.env(kubeconfig),
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{tool} {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    # -- HTTP access, as the admin (client cert) or with a bearer token
    def session(self, token: str | None = None) -> requests.Session:
        sess = requests.Session()
        # Ignore REQUESTS_CA_BUNDLE & proxies from the environment: they would override `verify`.
        sess.trust_env = False
        sess.verify = str(self.ca_file)
        if token is None:
            sess.cert = (str(self.admin_cert), str(self.admin_key))
        else:
            sess.headers["Authorization"] = f"Bearer {token}"
        return sess

    def api(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        with self.session(token) as sess:
            kwargs.setdefault("timeout", 30)
            return sess.request(method, self.server + path, **kwargs)

    def get_json(self, path: str) -> dict[str, Any]:
        resp = self.api("GET", path)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()
        return data

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.api("POST", path, json=body)
        if resp.status_code >= 300:
            raise AssertionError(f"POST {path}: {resp.status_code} {resp.text}")
        data: dict[str, Any] = resp.json()
        return data

    def create_namespace(self, prefix: str = "t", labels: dict[str, str] | None = None) -> str:
        """A fresh namespace per test: the cluster is shared by the whole session."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels or {}}})
        return name

    def create_restricted_namespace(self, prefix: str = "restricted") -> str:
        """A fresh namespace that enforces the "restricted" Pod Security level."""
        return self.create_namespace(prefix, {"pod-security.kubernetes.io/enforce": "restricted"})

    def service_account_token(
        self, namespace: str, name: str, *, create: bool = True, expiration_seconds: int = 3600
    ) -> str:
        """Mint a token for ``namespace/name`` with the TokenRequest API (creating the SA)."""
        if create:
            resp = self.api(
                "POST",
                f"/api/v1/namespaces/{namespace}/serviceaccounts",
                json={"metadata": {"name": name}},
            )
            if resp.status_code not in (201, 409):
                raise AssertionError(f"creating ServiceAccount {name}: {resp.text}")
        resp = self.api(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            json={
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": expiration_seconds},
            },
        )
        if resp.status_code != 201:
            raise AssertionError(f"TokenRequest for {namespace}/{name}: {resp.text}")
        token: str = resp.json()["status"]["token"]
        return token

    def kubeconfig_for_token(self, token: str, path: Path) -> Path:
        """A kubeconfig that authenticates with ``token`` (e.g. to run helm as a ServiceAccount)."""
        write_kubeconfig(path, self.server, self.ca_file, {"token": token})
        return path

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        for proc in self.procs:
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            parts.append(f"----- {proc.name} (pid {proc.pid}, {state}) {proc.log}\n")
            parts.append(tail(proc.log, lines) + "\n")
        return "".join(parts)

    def stop(self) -> None:
        stop_all(self.procs)


def write_kubeconfig(path: Path, server: str, ca_file: Path, user: dict[str, str]) -> None:
    # JSON is YAML: every client (kubectl, helm, client-go, the Python client) reads it.
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "testbed",
                "cluster": {"server": server, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [{"name": "testbed-user", "user": user}],
        "contexts": [
            {"name": "testbed", "context": {"cluster": "testbed", "user": "testbed-user"}}
        ],
        "current-context": "testbed",
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)


SHM = Path("/dev/shm")
ETCD_DATA_PREFIX = "bumper-testbed-etcd-"
STALE_AFTER = 600.0  # seconds: a data dir this old that no running process names is a leftover


def _etcd_data_dir(workdir: Path) -> Path:
    # etcd fsyncs a lot; tmpfs keeps it fast. Fall back to the workdir if /dev/shm is missing.
    if SHM.is_dir() and os.access(SHM, os.W_OK):
        sweep_stale_data_dirs(SHM)
        return Path(tempfile.mkdtemp(prefix=ETCD_DATA_PREFIX, dir=SHM))
    return workdir / "etcd"


def sweep_stale_data_dirs(root: Path, *, older_than: float = STALE_AFTER) -> list[Path]:
    """Remove test-bed etcd data dirs under ``root`` that no running process names and that
    have not changed for ``older_than`` seconds: a run killed with SIGKILL cannot clean up,
    and each dir holds up to ~100 MB of RAM (tmpfs). Returns what it removed."""
    named = _named_by_processes()
    now, removed = time.time(), []
    for path in root.glob(f"{ETCD_DATA_PREFIX}*"):
        try:
            young = now - path.stat().st_mtime < older_than
        except FileNotFoundError:
            continue
        if young or str(path) in named:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _named_by_processes() -> str:
    """Every running process's command line, joined (an etcd names its dir as --data-dir)."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return "\n".join(lines)


def _start_etcd(bins: Path, data: Path, log_dir: Path) -> tuple[Proc, str]:
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    proc = Proc(
        "etcd",
        [
            str(bins / "etcd"),
            "--name=testbed",
            f"--data-dir={data}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=testbed=http://127.0.0.1:{peer}",
            "--listen-metrics-urls=",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        log_dir,
    )

    def healthy() -> bool:
        proc.check_alive()
        return bool(http_get(f"{url}/health", timeout=2).json().get("health") == "true")

    wait_until(healthy, 30, "etcd /health")
    return proc, url


def _apiserver_args(
    bins: Path, pki: testbed_pki.Pki, etcd_url: str, port: int, mode: str, workdir: Path
) -> list[str]:
    args = [
        str(bins / "kube-apiserver"),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--cert-dir={workdir / 'apiserver-certs'}",
        f"--client-ca-file={pki.ca_cert}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        # Endpoints may not hold loopback IPs; the default lease reconciler would fail forever.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "--v=1",
    ]
    if mode == "apiserver":
        # No controller-manager creates "default" ServiceAccounts (envtest does the same).
        args.append("--disable-admission-plugins=ServiceAccount")
    return args


def _start_apiserver(
    bins: Path, pki: testbed_pki.Pki, etcd_url: str, mode: str, workdir: Path, log_dir: Path
) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(
        "kube-apiserver", _apiserver_args(bins, pki, etcd_url, port, mode, workdir), log_dir
    )
    server = f"https://127.0.0.1:{port}"

    def ready() -> bool:
        proc.check_alive()
        resp = http_get(
            f"{server}/readyz",
            verify=str(pki.ca_cert),
            cert=(str(pki.admin_cert), str(pki.admin_key)),
            timeout=5,
        )
        return resp.status_code == 200

    wait_until(ready, START_TIMEOUT, "kube-apiserver /readyz", step=0.3)
    return proc, server


def _start_controllers(
    bins: Path, pki: testbed_pki.Pki, kubeconfig: Path, workdir: Path, log_dir: Path
) -> list[Proc]:
    common = [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
    ]
    kcm = Proc(
        "kube-controller-manager",
        [
            str(bins / "kube-controller-manager"),
            *common,
            f"--secure-port={free_port()}",
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            f"--cert-dir={workdir / 'kcm-certs'}",
            "--kube-api-qps=100",
            "--kube-api-burst=200",
            "--v=1",
        ],
        log_dir,
    )
    scheduler = Proc(
        "kube-scheduler",
        [
            str(bins / "kube-scheduler"),
            *common,
            f"--secure-port={free_port()}",
            f"--cert-dir={workdir / 'scheduler-certs'}",
            "--v=1",
        ],
        log_dir,
    )
    stages = workdir / "kwok-stages.yaml"
    upstream = (bins.parent / "kwok-stages.yaml").read_text()
    ours = "".join(f"---\n{p.read_text()}" for p in sorted(STAGES_DIR.glob("*.yaml")))
    stages.write_text(upstream + ours)
    kwok = Proc(
        "kwok",
        [
            str(bins / "kwok"),
            f"--kubeconfig={kubeconfig}",
            f"--config={stages}",
            # Only the fake Nodes (annotated by _node): a real kubelet (testbed/node.sh) may
            # join the same cluster, and kwok must never report status for it.
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            "--cidr=10.244.0.0/16",
            "--node-ip=10.0.0.1",
            "--node-lease-duration-seconds=40",
        ],
        log_dir,
    )
    return [kcm, scheduler, kwok]


def _node(name: str) -> dict[str, Any]:
    # No kwok.x-k8s.io/node taint: every node here is fake, charts need no toleration.
    capacity = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {"allocatable": capacity, "capacity": capacity},
    }


def _node_ready(cluster: BedCluster, name: str) -> bool:
    node = cluster.get_json(f"/api/v1/nodes/{name}")
    conditions = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _wait_full_ready(cluster: BedCluster) -> None:
    for name in NODE_NAMES:
        cluster.create("/api/v1/nodes", _node(name))

    def nodes_ready() -> bool:
        for proc in cluster.procs:
            proc.check_alive()
        return all(_node_ready(cluster, n) for n in NODE_NAMES)

    wait_until(nodes_ready, START_TIMEOUT, "kwok to make the fake Nodes Ready")
    # kcm's ServiceAccount controller is up once "default" exists; pods need it for admission.
    wait_until(
        lambda: cluster.api("GET", "/api/v1/namespaces/default/serviceaccounts/default").ok,
        START_TIMEOUT,
        "kube-controller-manager to create the default ServiceAccount",
    )


def start_cluster(mode: str, bins: Path, workdir: Path, attempts: int = 3) -> BedCluster:
    """Start a cluster; retry in a fresh dir if another process took one of our free ports."""
    if mode not in ("apiserver", "full"):
        raise ValueError(f"unknown test bed mode {mode!r}")
    for attempt in range(1, attempts + 1):
        try:
            return _start_cluster(mode, bins, workdir / f"try{attempt}")
        except RuntimeError as exc:
            if attempt == attempts or "address already in use" not in str(exc):
                raise
    raise AssertionError("unreachable")


def _start_cluster(mode: str, bins: Path, workdir: Path) -> BedCluster:
    t0 = time.monotonic()
    log_dir = workdir / "logs"
    pki = testbed_pki.make_pki(workdir / "pki")
    procs: list[Proc] = []
    cluster: BedCluster | None = None
    # Made here, so that a failed start (say, etcd's port taken) removes it too.
    etcd_data = _etcd_data_dir(workdir)
    try:
        etcd, etcd_url = _start_etcd(bins, etcd_data, log_dir)
        procs.append(etcd)
        apiserver, server = _start_apiserver(bins, pki, etcd_url, mode, workdir, log_dir)
        procs.append(apiserver)
        kubeconfig = workdir / "kubeconfig"
        write_kubeconfig(
            kubeconfig,
            server,
            pki.ca_cert,
            {"client-certificate": str(pki.admin_cert), "client-key": str(pki.admin_key)},
        )
        cluster = BedCluster(
            mode=mode,
            workdir=workdir,
            bin_dir=bins,
            log_dir=log_dir,
            kubeconfig=kubeconfig,
            server=server,
            ca_file=pki.ca_cert,
            admin_cert=pki.admin_cert,
            admin_key=pki.admin_key,
            procs=procs,
        )
        if mode == "full":
            procs.extend(_start_controllers(bins, pki, kubeconfig, workdir, log_dir))
            _wait_full_ready(cluster)
    except BaseException as exc:
        logs = "".join(f"----- {p.name}\n{tail(p.log)}\n" for p in procs)
        stop_all(procs)
        if etcd_data.is_relative_to(SHM):
            shutil.rmtree(etcd_data, ignore_errors=True)
        raise RuntimeError(f"test bed ({mode}) failed to start: {exc}\n{logs}") from exc
    cluster.start_seconds = time.monotonic() - t0
    cluster.workdir.joinpath(".etcd-data").write_text(str(etcd_data))
    return cluster


def stop_cluster(cluster: BedCluster) -> None:
    cluster.stop()
    marker = cluster.workdir / ".etcd-data"
    if marker.exists():
        data = Path(marker.read_text())
        if data.is_relative_to(SHM):
            shutil.rmtree(data, ignore_errors=True)


def iter_pods(cluster: BedCluster, namespace: str, selector: str) -> Iterator[dict[str, Any]]:
    data = cluster.get_json(f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")
    yield from data.get("items", [])
