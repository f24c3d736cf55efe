"""``pr_render`` on a target: off by default, and only where there is a PR to show it in."""

from __future__ import annotations

from typing import Any

from bumper.core import config


def doc(target: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "bumper/v1",
        "repos": [{"name": "r", "forge": "github", "url": "https://github.com/acme/config"}],
        "images": [
            {
                "name": "api",
                "image": "ghcr.io/acme/api",
                "policy": {"semver": "^1"},
                "targets": [{"repo": "r", "paths": ["apps/api/prod/**"], **target}],
            }
        ],
    }


def test_off_by_default_and_on_for_pr_modes() -> None:
    for target, expected in (({}, False), ({"mode": "pr-automerge", "pr_render": True}, True)):
        cfg, found = config.validate(doc(target))
        assert found == [] and cfg is not None
        assert cfg.images[0].targets[0].pr_render is expected


def test_commit_mode_has_no_pr_to_render_into() -> None:
    cfg, found = config.validate(doc({"mode": "commit", "pr_render": True}))
    assert cfg is None
    [issue] = found
    assert issue.path == "images[0].targets[0]"
    assert "pr_render shows a render in the PR: it needs mode pr or pr-automerge" in issue.message
