"""What the bumper chart promises, read from ``helm template`` output: the ops listener never
behind the Ingress, secrets only from existing Secrets as files, Redis passwords never in a URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.charts.helm import CHARTS, Helm, docs

CHART = str(CHARTS["bumper"])


@pytest.fixture
def helm(testbed_bin_dir: Path, tmp_path: Path) -> Helm:
    return Helm(testbed_bin_dir, tmp_path)


def one(objects: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    return found


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_ingress_routes_only_hooks_and_reports_to_the_public_port(helm: Helm) -> None:
    objects = docs(helm.template(CHART, "bumper--bundled"))
    (rule,) = one(objects, "Ingress")["spec"]["rules"]
    routes = {
        (p["path"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"])
        for p in rule["http"]["paths"]
    }
    assert routes == {
        ("/hooks/", "rel-bumper-web", "http"),
        ("/agent/v1/reports", "rel-bumper-web", "http"),
    }
    web_service = one(objects, "Service", "-web")
    assert [p["targetPort"] for p in web_service["spec"]["ports"]] == ["http"]
    ops_service = one(objects, "Service", "-ops")
    assert ops_service["spec"]["type"] == "ClusterIP"
    assert [p["targetPort"] for p in ops_service["spec"]["ports"]] == ["ops"]
    container = one(objects, "Deployment", "-web")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = env_of(container)
    assert env["BUMPER_WEB__BIND"] == f"0.0.0.0:{ports['http']}"
    assert env["BUMPER_WEB__OPS_BIND"] == f"0.0.0.0:{ports['ops']}"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_service_monitor_scrapes_the_ops_service(helm: Helm) -> None:
    objects = docs(helm.template(CHART, "bumper--production"))
    monitor = one(objects, "ServiceMonitor")
    ops_labels = one(objects, "Service", "-ops")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= ops_labels.items()
    web_labels = one(objects, "Service", "-web")["metadata"]["labels"]
    assert not monitor["spec"]["selector"]["matchLabels"].items() <= web_labels.items()
    assert monitor["spec"]["endpoints"] == [{"port": "ops", "path": "/metrics", "interval": "30s"}]


def test_redis_password_is_a_mounted_file_in_every_mode(helm: Helm) -> None:
    for case, secret in (
        ("bumper--default", "rel-bumper-redis"),
        ("bumper--bundled", "bumper-redis-auth"),
        ("bumper--production", "bumper-redis"),
    ):
        objects = docs(helm.template(CHART, case))
        for suffix in ("-web", "-worker"):
            pod = one(objects, "Deployment", suffix)["spec"]["template"]["spec"]
            env = env_of(pod["containers"][0])
            assert "@" not in env["BUMPER_REDIS_URL"], case
            assert env["BUMPER_REDIS_PASSWORD_FILE"] == "/etc/bumper/redis/password"
            volume = next(v for v in pod["volumes"] if v["name"] == "redis-password")
            assert volume["secret"]["secretName"] == secret, case
            assert not any(
                "valueFrom" in e or "PASSWORD" in e.get("value", "")
                for e in pod["containers"][0]["env"]
            )


def test_secrets_go_to_the_component_that_reads_them(helm: Helm) -> None:
    objects = docs(helm.template(CHART, "bumper--production"))
    mounted = {}
    for suffix in ("-web", "-worker"):
        pod = one(objects, "Deployment", suffix)["spec"]["template"]["spec"]
        mounted[suffix] = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert mounted["-web"] == {"bumper-hooks", "bumper-agent-tokens", "bumper-redis"}
    assert mounted["-worker"] == {"bumper-forge", "bumper-git", "bumper-redis"}
    assert not [o for o in objects if o["kind"] in ("Secret", "StatefulSet")]  # external Redis


@pytest.mark.parametrize(
    "bad",
    [
        "externalRedis.url=redis://:hunter2@redis.example:6379/0",
        "secrets.web[0].name=hooks,secrets.web[0].secretName=h,secrets.web[0].value=s3cret",
        "redis.auth.password=s3cret",
        "web.service.port=80",
        "unknown=1",
    ],
)
def test_schema_refuses(helm: Helm, bad: str) -> None:
    done = helm.run("template", "rel", CHART, "--set", bad, check=False)
    assert done.returncode != 0 and "schema" in done.stderr.lower(), (bad, done.stderr)


def test_global_is_allowed_and_wins_over_image_registry(helm: Helm) -> None:
    for name, chart in CHARTS.items():
        args = ["--set", "global.imageRegistry=localhost:5000", "--set", "global.other=x"]
        if name == "bumper-agent":
            args += ["--set", "agent.repoUrl=https://g.example/c.git"]
        objects = docs(helm.run("template", "rel", str(chart), *args).stdout)
        pods = [o["spec"]["template"]["spec"] for o in objects if "template" in o.get("spec", {})]
        images = {c["image"] for pod in pods for c in pod["containers"]}
        assert len(images) == {"bumper": 3, "bumper-agent": 1}[name], images
        for image in images:
            assert image.startswith("localhost:5000/bumper-dev/bumper-"), image
            assert image.endswith(":0.1.0"), image


def test_external_redis_needs_a_url(helm: Helm) -> None:
    done = helm.run("template", "rel", CHART, "--set", "redis.enabled=false", check=False)
    assert done.returncode != 0 and "externalRedis.url is required" in done.stderr
