"""Push mode renders with the executables the worker is configured with: one setting
(``BUMPER_WORKER__HELM_BIN``, ``BUMPER_WORKER__KUSTOMIZE_BIN``) governs both a PR's rendered
effect (``worker.effect``) and push mode's render (``worker.pushdeploy``). A stand-in helm
records that it ran; the render needs no cluster (its API server is never called here)."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer
from worker import context, pushdeploy, targets

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: rendered-by-fake-helm}\n"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)


@pytest.fixture
def bed(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    seed = tmp_path / "seed"
    (seed / "chart" / "templates").mkdir(parents=True)
    (seed / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: api\nversion: 0.1.0\n")
    (seed / "chart" / "values.yaml").write_text("image: ghcr.io/acme/api:1.0.0\n")
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=dev", "-c", "user.email=dev@x", "commit", "-qm", "seed")
    bare = tmp_path / "config.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    helm = tmp_path / "fake-helm"
    helm.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'helm-ran'}\nprintf '{CONFIGMAP}'\n")
    helm.chmod(0o755)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\n'
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    (tmp_path / "bumper.yaml").write_text(
        textwrap.dedent(
            f"""\
            apiVersion: bumper/v1
            repos:
              - {{name: config, forge: git, url: "{bare}"}}
            images:
              - name: api
                image: ghcr.io/acme/api
                policy: {{semver: "^1"}}
                targets:
                  - repo: config
                    paths: ["chart/**"]
                    mode: commit
                    deploy: push
                    cluster: {{kubeconfig: {kubeconfig}, render: helm, paths: [chart]}}
            """
        )
    )
    for name, value in {
        "BUMPER_REDIS_URL": redis_server.url,
        "BUMPER_CONFIG_FILE": str(tmp_path / "bumper.yaml"),
        "BUMPER_WORKER__CACHE_DIR": str(tmp_path / "cache"),
        "BUMPER_WORKER__HELM_BIN": str(helm),
    }.items():
        monkeypatch.setenv(name, value)
    context.current.cache_clear()
    yield bare
    context.current.cache_clear()


def test_push_mode_renders_with_the_configured_helm(bed: Path) -> None:
    ctx = context.current()
    deployer = pushdeploy.deployer_for(ctx, targets.resolve(ctx.config, "api/0"))
    with ctx.cache.checkout(str(bed), "main") as checkout:
        commits = pushdeploy.CheckoutCommits(checkout, deployer.spec)
        rendered = commits.render(commits.tip())
    assert [obj["metadata"]["name"] for obj in rendered] == ["rendered-by-fake-helm"]
    ran = (bed.parent / "helm-ran").read_text()
    assert ran.startswith("template release ") and "/chart" in ran
