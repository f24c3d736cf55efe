"""End to end (issue 21 item 3): a push bumps the renderable test data (tests/data/render) in a
config repo of the forge simulator, through the real worker jobs, and the PRs of targets with
``pr_render: true`` carry the "Effect in the cluster" section; a target without it has none,
and a render that cannot run (a remote base) still opens its PR, saying why."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bumper.core import changes, events
from tests.support.forgesim import ForgeSim
from tests.support.jobs import drain
from tests.support.redis_server import RedisServer
from tests.worker.test_effect import DATA, rows
from worker import context, jobs

REPO = "acme/config"
EDGE = "kustomize/overlays/edge/kustomization.yaml"
TARGETS = {
    "api/0": ("kustomize/overlays/prod/**", True),
    "api/1": ("helm/shop/values-prod.yaml", True),
    "api/2": ("kustomize/overlays/dev/**", False),
    "api/3": ("kustomize/overlays/edge/**", True),
}
API = "ghcr.io/acme/api:1.0.0 → ghcr.io/acme/api:1.1.0"


@pytest.fixture
def sim(
    forgesim: ForgeSim,
    tmp_path: Path,
    redis_server: RedisServer,
    testbed_bin_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ForgeSim]:
    files = {
        path.relative_to(DATA).as_posix(): path.read_text()
        for path in sorted(DATA.rglob("*"))
        if path.is_file()
    }
    files[EDGE] = files["kustomize/overlays/dev/kustomization.yaml"].replace(
        "  - ../../base\n", "  - ../../base\n  - https://github.com/acme/base//edge?ref=v1\n"
    )
    forgesim.create_repo(REPO, files)
    targets = "".join(
        f"      - {{repo: config, paths: [{paths!r}], mode: pr"
        + (", pr_render: true}\n" if render else "}\n")
        for paths, render in TARGETS.values()
    )
    config = tmp_path / "bumper.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            apiVersion: bumper/v1
            repos:
              - name: config
                forge: github
                url: {forgesim.url}/{REPO}
                api_url: {forgesim.github_api_url}
                credentials: {{env: TEST_FORGE_TOKEN}}
            images:
              - name: api
                image: ghcr.io/acme/api
                policy: {{semver: "^1.0"}}
                targets:
            """
        )
        + targets
    )
    monkeypatch.setenv("TEST_FORGE_TOKEN", forgesim.token)
    monkeypatch.setenv("BUMPER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("BUMPER_CONFIG_FILE", str(config))
    monkeypatch.setenv("BUMPER_QUEUE_NAME", "bumper-test")
    monkeypatch.setenv("BUMPER_WORKER__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BUMPER_WORKER__HELM_BIN", str(testbed_bin_dir / "helm"))
    monkeypatch.setenv("BUMPER_WORKER__KUSTOMIZE_BIN", str(testbed_bin_dir / "kustomize"))
    context.current.cache_clear()
    yield forgesim
    context.current.cache_clear()


def bodies(sim: ForgeSim) -> dict[str, str]:
    """PR body per target key (from the PR's head branch)."""
    by_branch = {changes.branch_name("config", key, "ghcr.io/acme/api"): key for key in TARGETS}
    found: dict[str, str] = {}
    for pr in sim.repo(REPO).changes.values():
        found[by_branch[pr.head]] = pr.body
    return found


def push(tag: str) -> dict[str, Any]:
    event = events.ImageEvent(
        type="image.pushed", image="ghcr.io/acme/api", tag=tag, source="harbor", delivery_id="d1"
    )
    return events.to_dict(event)


def test_pr_bodies_show_the_rendered_effect(sim: ForgeSim, client: redis.Redis) -> None:
    jobs.handle_event(push("1.1.0"))
    drain(client, "bumper-test")
    body = bodies(sim)
    assert sorted(body) == sorted(TARGETS)  # every target got its PR, the edge one too

    prod = body["api/0"]
    assert "| `kustomize/overlays/prod/kustomization.yaml:" in prod  # the composer's table
    section = prod.split("\n### Effect in the cluster\n\n", 1)[1]
    assert "**kustomize build of `kustomize/overlays/prod`**: 2 containers change image." in section
    assert rows(section) == [
        ("Deployment shop-prod/shop", "migrate (init)", API),
        ("Deployment shop-prod/shop", "api", API),
    ]
    assert "<details><summary>Rendered diff: 1 object changed</summary>" in section

    helm = body["api/1"].split("\n### Effect in the cluster\n\n", 1)[1]
    assert "helm release of the chart `helm/shop` with `helm/shop/values-prod.yaml`" in helm
    assert rows(helm) == [
        ("Deployment shop", "migrate (init)", API),
        ("Deployment shop", "api", API),
    ]

    assert "Effect in the cluster" not in body["api/2"]  # pr_render is off by default

    edge = body["api/3"].split("\n### Effect in the cluster\n\n", 1)[1]
    assert edge.startswith("**kustomize build of `kustomize/overlays/edge`**: not rendered: ")
    assert "'https://github.com/acme/base//edge?ref=v1' is a remote source" in edge
    assert str(Path.home()) not in body["api/3"]  # no worker path in a PR
