"""The CLI on hostile files: an alias bomb or a symbolic link out of the tree is named, with
its reason, on its own line; the other files are still scanned and edited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bumper import cli
from tests.support.hostile_yaml import alias_bomb

DEPLOY = "spec:\n  containers:\n    - name: api\n      image: ghcr.io/acme/api:1.0\n"
BOMB_REASON = (
    "over the YAML parse limits: aliases expand to more than 100000 nodes, "
    "like an alias bomb (line 12)"
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "deploy.yaml").write_text(DEPLOY)
    (apps / "bomb.yaml").write_text(alias_bomb())
    (tmp_path / "secret.yaml").write_text(DEPLOY)
    os.symlink(tmp_path / "secret.yaml", apps / "evil.yaml")
    return apps


def test_scan_names_the_bomb_and_the_link_and_lists_the_rest(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["scan", str(tree)]) == 3  # a file could not be read (issue 16)
    out, err = capsys.readouterr()
    assert out == f"{tree}/deploy.yaml:4\tpod-container\tghcr.io/acme/api:1.0\n"
    assert err.splitlines() == [
        f"bumper: skipped {tree}/bomb.yaml: {BOMB_REASON}",
        f"bumper: skipped {tree}/evil.yaml: a symbolic link to a path outside the repository: "
        "not followed",
    ]


def test_set_image_edits_the_other_files_and_never_writes_through_the_link(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["set-image", str(tree), "--image", "ghcr.io/acme/api", "--tag", "1.1"]) == 0
    _, err = capsys.readouterr()
    assert f"bumper: skipped {tree}/bomb.yaml: {BOMB_REASON}" in err.splitlines()
    assert "api:1.1" in (tree / "deploy.yaml").read_text()
    assert (tree.parent / "secret.yaml").read_text() == DEPLOY


def test_check_config_reports_a_bomb_as_one_issue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bumper.yaml"
    bomb = alias_bomb()
    config.write_text("apiVersion: bumper/v1\n" + bomb[bomb.index("\ndata:") + 1 :])
    assert cli.main(["check-config", str(config)]) == 2
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{config}: (document): over the YAML parse limits: aliases expand to more than 100000 "
        "nodes, like an alias bomb (line 8)",
        f"{config}: 1 error",
    ]
