"""The worker pod's wiring, run for real: ``bumper worker --burst`` with the command and
environment the chart's worker container gets (mounts replaced by the same files under a temp
dir) connects to a password-protected Redis with the mounted password file, loads the mounted
bumper.yaml, and exits 0; with a wrong password file it fails. The container's own command
writes the liveness file that its startup and liveness probes' exec commands then accept."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.charts.conftest import PASSWORD
from tests.charts.helm import CHARTS, REPO, Helm, docs


def worker_pod(helm: Helm) -> tuple[dict[str, Any], dict[str, str], str]:
    objects = docs(helm.template(str(CHARTS["bumper"]), "bumper--bundled"))
    (deployment,) = [
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-worker")
    ]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    (config_map,) = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "rel-bumper"
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    return container, env, config_map["data"]["bumper.yaml"]


def under(root: Path, argv: list[str]) -> list[str]:
    """A container's command with the pod's /tmp (an emptyDir) under ``root``."""
    return [arg.replace("=/tmp/", f"={root}/tmp/") for arg in argv]


def run_worker(
    env: dict[str, str], root: Path, port: int, password: str, command: list[str]
) -> Any:
    """The pod's files under ``root``; then the container's ``command`` with ``--burst`` (the
    worker exits once the queue is empty) and the pod's env."""
    here = {k: v.replace("/etc/bumper/", f"{root}/etc/bumper/") for k, v in env.items()}
    here["BUMPER_WORKER__CACHE_DIR"] = str(root / "var/cache/bumper")
    here["HOME"] = str(root / "tmp")
    here["BUMPER_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    password_file = Path(here["BUMPER_REDIS_PASSWORD_FILE"])
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.write_text(password)
    return subprocess.run(
        [sys.executable, "-m", *under(root, command), "--burst"],
        env={"PATH": "/usr/bin:/bin", **here},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def mount_secrets(bumper_yaml: str, container: dict[str, Any], root: Path) -> list[str]:
    """The secret files bumper.yaml names under the worker's mounted Secrets, created under
    ``root`` as the pod would see them (the worker checks its repos' credentials at start;
    receiver secrets are the web's, not mounted here). Returns the paths created."""
    mounted = [m["mountPath"] for m in container["volumeMounts"]]
    created = []
    for path in sorted(set(re.findall(r"/etc/bumper/secrets/[\w./-]+", bumper_yaml))):
        if any(path.startswith(f"{m}/") for m in mounted):
            secret = root / path.lstrip("/")
            secret.parent.mkdir(parents=True, exist_ok=True)
            secret.write_text("a-forge-token-of-enough-length\n")
            created.append(path)
    return created


def test_the_worker_pod_env_runs_the_worker(
    testbed_bin_dir: Path, tmp_path: Path, locked_redis: int
) -> None:
    helm = Helm(testbed_bin_dir, tmp_path / "home")
    container, env, bumper_yaml = worker_pod(helm)
    assert container["command"][:2] == ["bumper", "worker"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/etc/bumper/config", "/etc/bumper/redis", "/var/cache/bumper", "/tmp"} <= mounts
    assert env["BUMPER_WORKER__CACHE_DIR"] == "/var/cache/bumper"
    root = tmp_path / "root"
    config = root / env["BUMPER_CONFIG_FILE"].lstrip("/")
    config.parent.mkdir(parents=True)
    config.write_text(bumper_yaml.replace("/etc/bumper/", f"{root}/etc/bumper/"))
    # the repo's credentials come from the worker's own Secret mount
    assert mount_secrets(bumper_yaml, container, root) == ["/etc/bumper/secrets/forge/token"]
    (root / "tmp").mkdir()
    for probe in ("startupProbe", "livenessProbe"):  # no heartbeat yet: both fail
        assert probe_passes(container[probe], root) is False
    done = run_worker(env, root, locked_redis, PASSWORD, container["command"])
    assert done.returncode == 0, done.stderr[-2000:]
    for probe in ("startupProbe", "livenessProbe"):
        assert probe_passes(container[probe], root) is True
    refused = run_worker(env, root, locked_redis, "not-the-password-at-all", container["command"])
    assert refused.returncode != 0 and "AuthenticationError" in refused.stderr, refused.stderr[
        -2000:
    ]


def probe_passes(probe: dict[str, Any], root: Path) -> bool:
    """The probe's exec command, run here as the kubelet runs it in the container."""
    argv = under(root, probe["exec"]["command"])
    assert argv[0] == "bumper"
    done = subprocess.run(
        [sys.executable, "-m", *argv], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Traceback" not in done.stderr
    return done.returncode == 0
