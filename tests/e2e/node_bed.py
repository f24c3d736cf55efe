"""The whole system on the test bed's real node, installed the way a team would.

Images come from ``make images`` (images/build.sh, cached) and are pushed with images/push.sh to a
test bed registry; both charts are packaged and pushed as OCI charts and installed from
``oci://``. The node pulls from the registry as ``localhost:<port>`` (``node.sh forward``) and
reaches the forge simulator on the host through the same kind of forwarder, at the veth's host
address. The host reaches the web process through its NodePort at the node IP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
import requests
import yaml

from tests.support.forgesim import ForgeSim
from tests.support.testbed import BedCluster, Node
from tests.support.testbed_cluster import REAL_NODE_TOLERATION, iter_pods, placement
from tests.support.testbed_proc import REPO_ROOT
from tests.support.testbed_registry import Registry
from worker.promotionstore import PromotionStore

HOOK_SECRET = "node-e2e-hook-secret-0123456789"
AGENT_TOKEN = "node-e2e-agent-token-0123456789"
CONFIG_REPO = "acme/config"
APP_REPO = "acme/api"
RELEASE = "sys"  # the bumper chart's release


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


IMAGE_TARGETS = ("web", "worker", "agent", "redis")


def build_and_push_images(reg: Registry, *targets: str) -> dict[str, str]:
    """``make images`` (cached) then images/push.sh of ``targets`` (default: all four):
    target -> pushed manifest digest."""
    wanted = targets or IMAGE_TARGETS
    run("bash", str(REPO_ROOT / "images" / "build.sh"), *wanted)
    out = run("bash", str(REPO_ROOT / "images" / "push.sh"), reg.host, *wanted)
    digests = {}
    for line in out.splitlines():
        ref, digest = line.rsplit("@", 1)
        digests[ref.split("/bumper-")[-1].split(":")[0]] = digest
    assert set(digests) == set(wanted), out
    return digests


def push_app_image(reg: Registry, bins: Path, workdir: Path, tag: str, *env: str) -> str:
    """The test app (the hello binary) as ``acme/api:<tag>``; ``env`` makes each tag distinct."""
    layout = workdir / f"api-{tag}"
    args = [sys.executable, str(REPO_ROOT / "testbed" / "ociimage.py"), str(bins / "hello")]
    args += [str(layout), f"{reg.host}/{APP_REPO}:{tag}"]
    for item in env:
        args += ["--env", item]
    digest = run(*args).strip()
    reg.crane("push", str(layout), f"{reg.host}/{APP_REPO}:{tag}")
    return digest


def push_charts(cluster: BedCluster, reg: Registry, workdir: Path) -> dict[str, str]:
    """``helm package`` + ``helm push`` of both charts: name -> (oci ref, version)."""
    refs = {}
    for name in ("bumper", "bumper-agent"):
        chart = REPO_ROOT / "charts" / name
        version = yaml.safe_load((chart / "Chart.yaml").read_text())["version"]
        cluster.run("helm", "package", str(chart), "--destination", str(workdir))
        archive = workdir / f"{name}-{version}.tgz"
        cluster.run("helm", "push", str(archive), f"oci://{reg.host}/charts", "--plain-http")
        refs[name] = version
    return refs


def install_chart(
    cluster: BedCluster,
    chart: str,
    version: str,
    reg_host: str,
    ns: str,
    values: Any,
    workdir: Path,
    *,
    release: str,
) -> None:
    """``helm install release oci://<reg_host>/charts/<chart>`` into ``ns`` with ``values``."""
    file = workdir / f"{release}-{chart}-values.yaml"
    file.write_text(yaml.safe_dump(values))
    cluster.run(
        "helm",
        "install",
        release,
        f"oci://{reg_host}/charts/{chart}",
        "--version",
        version,
        "--plain-http",
        "-n",
        ns,
        "--values",
        str(file),
    )


def deployment_yaml(image: str, node: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {
                        **placement(node),
                        "automountServiceAccountToken": False,
                        "containers": [
                            {
                                "name": "api",
                                "image": image,
                                "readinessProbe": {
                                    "httpGet": {"path": "/healthz", "port": 8080},
                                    "periodSeconds": 1,
                                },
                            }
                        ],
                    },
                },
            },
        },
        sort_keys=False,
    )


def secret(cluster: BedCluster, ns: str, name: str, data: dict[str, str]) -> None:
    cluster.create(
        f"/api/v1/namespaces/{ns}/secrets",
        {
            "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        },
    )


def on_host(url: str, node: Node) -> str:
    """``url`` on the host's loopback as the node's pods reach it (through the forwarder)."""
    return url.replace("127.0.0.1", node.host_ip)


def bumper_values(sim: ForgeSim, node: Node, registry_host: str) -> dict[str, Any]:
    pin = {"kubernetes.io/hostname": node.name}
    tolerate = [REAL_NODE_TOLERATION]
    api = on_host(sim.github_api_url, node)
    return {
        "image": {"registry": registry_host},
        # Probing every second: with the default 10 s a pod that is up waits that long to be Ready.
        "web": {
            "replicas": 1,
            "nodeSelector": pin,
            "tolerations": tolerate,
            "service": {"type": "NodePort"},
            "readinessProbe": {"periodSeconds": 1},
        },
        "worker": {"nodeSelector": pin, "tolerations": tolerate},
        "redis": {"nodeSelector": pin, "tolerations": tolerate},
        "secrets": {
            "web": [
                {"name": "hooks", "secretName": "e2e-hooks"},
                {"name": "agents", "secretName": "e2e-agents"},
            ],
            "worker": [{"name": "forge", "secretName": "e2e-forge"}],
        },
        "config": {
            "bumper": {
                "apiVersion": "bumper/v1",
                "receivers": [
                    {
                        "name": "gh",
                        "type": "github",
                        "secret": {"file": "/etc/bumper/secrets/hooks/gh"},
                        "registry": registry_host,
                        "scope": {"repos": [APP_REPO]},
                    }
                ],
                "repos": [
                    {
                        "name": "config",
                        "forge": "github",
                        "url": on_host(f"{sim.url}/{CONFIG_REPO}", node),
                        "api_url": api,
                        "credentials": {"file": "/etc/bumper/secrets/forge/token"},
                    }
                ],
                "images": [
                    {
                        "name": "api",
                        "image": f"{registry_host}/{APP_REPO}",
                        "policy": {"semver": ">=1.0.0"},
                        "labels": ["bump"],
                        "targets": [{"repo": "config", "paths": ["apps/**"], "mode": "pr"}],
                    }
                ],
                "agents": [{"name": "e2e", "token": {"file": "/etc/bumper/secrets/agents/e2e"}}],
            }
        },
    }


def agent_values(
    sim: ForgeSim,
    node: Node,
    registry_host: str,
    apps: str,
    web: str,
    *,
    name: str = "e2e",
    paths: tuple[str, ...] = ("apps",),
    git_secret: str = "e2e-forge",
    report_secret: str = "e2e-agents",
    report_key: str = "e2e",
    interval: int = 3,
    health_timeout: int = 30,
    forge: bool = True,
) -> Any:
    """charts/bumper-agent's values for an agent on the real node: it clones the forge
    simulator's config repo with the token in ``git_secret`` (key ``token``), applies ``paths``
    into ``apps`` and reports to ``web`` with the token in ``report_secret``/``report_key``
    (existing Secrets of the release's namespace); ``forge``: revert PRs on the simulator."""
    values: dict[str, Any] = {
        "image": {"registry": registry_host},
        **placement(node.name),
        "readinessProbe": {"periodSeconds": 1},
        "agent": {
            "name": name,
            "repoUrl": on_host(sim.clone_url(CONFIG_REPO), node),
            "paths": list(paths),
            "interval": interval,
            "healthTimeout": health_timeout,
            "namespace": apps,
        },
        "git": {"auth": "token", "existingSecret": git_secret},
        "report": {"url": web, "existingSecret": report_secret, "tokenKey": report_key},
    }
    if forge:
        values["forge"] = {
            "kind": "github",
            "apiUrl": on_host(sim.github_api_url, node),
            "repo": CONFIG_REPO,
            "existingSecret": git_secret,
        }
    return values


def package_hook(web_url: str, image: str, tag: str, digest: str) -> int:
    """A GitHub package ``published`` webhook for ``image:tag``, signed as GitHub signs it."""
    payload = {
        "action": "published",
        "package": {
            "package_type": "CONTAINER",
            "name": image.rsplit("/", 1)[-1],
            "package_version": {
                "version": digest,
                "package_url": f"{image}:{tag}",
                "container_metadata": {"tag": {"name": tag, "digest": digest}},
            },
        },
        "repository": {"full_name": APP_REPO},
    }
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    resp = requests.post(
        f"{web_url}/hooks/gh",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "package",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
        },
        timeout=10,
    )
    return resp.status_code


def ready_pods(cluster: BedCluster, ns: str, selector: str) -> list[dict[str, Any]]:
    return [
        pod
        for pod in iter_pods(cluster, ns, selector)
        if pod.get("status", {}).get("containerStatuses")
        and all(s.get("ready") for s in pod["status"]["containerStatuses"])
        and not pod["metadata"].get("deletionTimestamp")
    ]


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


def pod_log_tails(lines: int = 15) -> str:
    """The tail of every container log on the node (the API server cannot fetch them)."""
    parts = []
    for log in sorted(Path("/run/bumper-node/pods").glob("*/*/*.log")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"----- {log.parent.parent.name}/{log.parent.name}\n" + "\n".join(text))
    return "\n".join(parts)


def web_logged(ns: str, *needles: str) -> bool:
    """Whether one line of the web container's log (on the node) holds every needle."""
    for log in Path("/run/bumper-node/pods").glob(f"{ns}_*-bumper-web-*/web/*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if all(n in line for n in needles):
                return True
    return False


def agent_logged(ns: str, *needles: str) -> bool:
    """Whether one line of the agent container's log (on the node) holds every needle."""
    for log in Path("/run/bumper-node/pods").glob(f"{ns}_agent-bumper-agent-*/agent/*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if all(n in line for n in needles):
                return True
    return False


def redis_from_host(cluster: BedCluster, ns: str, node: Node) -> redis.Redis:
    """A client of the bundled Redis, through a NodePort Service this test adds (the host
    reaches the node IP, not the pod network); the password from the chart's Secret."""
    service = cluster.create(
        f"/api/v1/namespaces/{ns}/services",
        {
            "metadata": {"name": "e2e-redis-from-host"},
            "spec": {
                "type": "NodePort",
                "selector": {
                    "app.kubernetes.io/instance": RELEASE,
                    "app.kubernetes.io/component": "redis",
                },
                "ports": [{"port": 6379, "targetPort": 6379}],
            },
        },
    )
    secret = cluster.get_json(f"/api/v1/namespaces/{ns}/secrets/{RELEASE}-bumper-redis")
    password = base64.b64decode(secret["data"]["password"]).decode()
    port = service["spec"]["ports"][0]["nodePort"]
    return redis.Redis(host=node.ip, port=port, password=password, socket_timeout=5)


def health_evidence(client: redis.Redis, agent: str) -> dict[str, dict[str, Any]]:
    """What the web stored of ``agent``'s running reports (``worker.promotionstore``)."""
    return PromotionStore(client).evidence(agent)
