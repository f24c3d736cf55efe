"""The web pod's wiring, run for real: gunicorn started with the environment the chart's web
container gets (config file, Redis URL and password file, listeners), its mounts replaced by
the same files under a temp dir, against a real redis-server that demands a password.

It shows what ``helm template`` alone cannot: the probes' paths answer on the public port,
``/metrics`` only on the ops port, the receiver's secret file is where bumper.yaml says, and
the Redis password file is read (``/readyz`` is 200 only when Redis answers AUTH).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.charts.conftest import PASSWORD
from tests.charts.helm import CHARTS, Helm, docs
from tests.support.gunicorn_server import GunicornServer

HOOK_SECRET = "hook-secret-" + "y" * 20
HARBOR_PUSH = {
    "type": "PUSH_ARTIFACT",
    "occur_at": 1700000000,
    "operator": "ci",
    "event_data": {
        "resources": [{"tag": "1.2.3", "resource_url": "registry.example.com/acme/hello:1.2.3"}],
        "repository": {"name": "hello", "namespace": "acme", "repo_full_name": "acme/hello"},
    },
}


def get(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def pod_env(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    (web,) = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-web")
    ]
    container = web["spec"]["template"]["spec"]["containers"][0]
    return container, {e["name"]: e["value"] for e in container["env"]}


def test_the_web_pod_env_starts_a_working_receiver(
    testbed_bin_dir: Path, tmp_path: Path, locked_redis: int
) -> None:
    helm = Helm(testbed_bin_dir, tmp_path / "home")
    objects = docs(helm.template(str(CHARTS["bumper"]), "bumper--bundled"))
    container, env = pod_env(objects)
    assert container["command"] == [
        "gunicorn",
        "-c",
        "python:bumper.web.gunicorn_conf",
        "bumper.web:create_app()",
    ]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert env.pop("BUMPER_WEB__BIND") == f"0.0.0.0:{ports['http']}"
    assert env.pop("BUMPER_WEB__OPS_BIND") == f"0.0.0.0:{ports['ops']}"
    # The pod's files, at the same paths under tmp_path/root.
    root = tmp_path / "root"
    config_map = next(
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "rel-bumper"
    )
    files = {
        env["BUMPER_CONFIG_FILE"]: config_map["data"]["bumper.yaml"],
        env["BUMPER_REDIS_PASSWORD_FILE"]: PASSWORD,
        "/etc/bumper/secrets/hooks/harbor": HOOK_SECRET,
    }
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    for path, text in files.items():
        assert any(path.startswith(mount + "/") for mount in mounts), path
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.replace("/etc/bumper/", f"{root}/etc/bumper/"))
    env = {k: v.replace("/etc/bumper/", f"{root}/etc/bumper/") for k, v in env.items()}
    assert env["BUMPER_REDIS_URL"] == "redis://rel-bumper-redis:6379/0"
    env["BUMPER_REDIS_URL"] = f"redis://127.0.0.1:{locked_redis}/0"
    env["HOME"] = str(tmp_path)

    server = GunicornServer(tmp_path / "web", env, workers=1)
    server.start()
    try:
        assert get(server.url + container["livenessProbe"]["httpGet"]["path"]) == 200
        assert get(server.url + container["readinessProbe"]["httpGet"]["path"]) == 200
        assert get(server.url + "/metrics") == 404
        assert get(server.ops_url + "/metrics") == 200
        body = json.dumps(HARBOR_PUSH).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {HOOK_SECRET}"}
        assert get(server.url + "/hooks/harbor", body, headers) == 202, server.log()[-2000:]
        headers["Authorization"] = "Bearer wrong-secret-wrong-secret"
        assert get(server.url + "/hooks/harbor", body, headers) == 403
    finally:
        server.stop()
