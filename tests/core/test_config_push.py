"""The push-delivery part of a target: ``deploy: push`` and its ``cluster`` section."""

from __future__ import annotations

from typing import Any

import pytest

from bumper.core import config


def doc(target: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "bumper/v1",
        "repos": [{"name": "r", "forge": "git", "url": "/srv/config.git"}],
        "images": [
            {
                "name": "api",
                "image": "ghcr.io/acme/api",
                "policy": {"semver": "^1"},
                "targets": [{"repo": "r", "paths": ["apps/api/prod/**"], **target}],
            }
        ],
    }


def issues(target: dict[str, Any]) -> dict[str, str]:
    cfg, found = config.validate(doc(target))
    assert cfg is None, "expected the document to be invalid"
    return {issue.path: issue.message for issue in found}


def test_the_old_delivery_key_still_selects_push_mode() -> None:
    cfg, found = config.validate(doc({"delivery": "push"}))
    assert found == [] and cfg is not None
    assert cfg.images[0].targets[0].deploy == "push"


def test_push_alone_takes_every_default_and_renders_the_globs_directory() -> None:
    cfg, found = config.validate(doc({"deploy": "push"}))
    assert found == [] and cfg is not None
    cluster = cfg.images[0].targets[0].push_cluster()
    assert (cluster.kubeconfig, cluster.namespace, cluster.render) == (None, "default", "plain")
    assert (cluster.paths, cluster.field_manager, cluster.health_timeout) == (
        ["apps/api/prod"],
        "bumper-push",
        300.0,
    )


def test_an_explicit_cluster_section_is_kept() -> None:
    section = {
        "kubeconfig": "kube/prod.yaml",
        "context": "prod",
        "namespace": "api",
        "render": "helm",
        "paths": ["charts/api"],
        "helm_values": ["charts/api/values-prod.yaml"],
        "health_timeout": 120,
        "name": "api-prod",
    }
    cfg, found = config.validate(doc({"deploy": "push", "cluster": section}))
    assert found == [] and cfg is not None
    cluster = cfg.images[0].targets[0].push_cluster()
    assert cluster.paths == ["charts/api"] and cluster.context == "prod"
    assert cluster.helm_values == ["charts/api/values-prod.yaml"] and cluster.name == "api-prod"


@pytest.mark.parametrize(
    ("target", "path", "fragment"),
    [
        (
            {"cluster": {"namespace": "api"}},
            "images[0].targets[0]",
            "only used with deploy: push",
        ),
        (
            {"deploy": "push", "cluster": {"paths": ["apps/*"]}},
            "images[0].targets[0].cluster.paths[0]",
            "not a glob",
        ),
        (
            {"deploy": "push", "cluster": {"paths": ["../other"]}},
            "images[0].targets[0].cluster.paths[0]",
            "..",
        ),
        (
            {"deploy": "push", "cluster": {"helm_values": ["v.yaml"]}},
            "images[0].targets[0].cluster",
            "needs render: helm",
        ),
        (
            {"deploy": "push", "cluster": {"namespace": "Not_A_Label"}},
            "images[0].targets[0].cluster.namespace",
            "pattern",
        ),
        (
            {"deploy": "push", "cluster": {"health_timeout": 0}},
            "images[0].targets[0].cluster.health_timeout",
            "greater than 0",
        ),
        (
            {"deploy": "push", "cluster": {"kubeconfig": "k", "server": "x"}},
            "images[0].targets[0].cluster.server",
            "Extra inputs",
        ),
    ],
)
def test_invalid_cluster_sections_are_reported_at_their_path(
    target: dict[str, Any], path: str, fragment: str
) -> None:
    found = issues(target)
    assert path in found, found
    assert fragment in found[path]


@pytest.mark.parametrize(
    ("globs", "paths"),
    [
        (["apps/api/**"], ["apps/api"]),
        (["apps/api/**", "apps/api/overlays/*.yaml"], ["apps/api"]),
        (["apps/a/**", "apps/ab/**"], ["apps/a", "apps/ab"]),
        (["deploy.yaml"], ["deploy.yaml"]),
        (["*.yaml", "apps/**"], ["."]),
    ],
)
def test_render_paths_are_the_fixed_prefixes_without_nesting(
    globs: list[str], paths: list[str]
) -> None:
    assert config.render_paths(globs) == paths
