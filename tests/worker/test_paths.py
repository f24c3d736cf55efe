"""The worker's edits on a real checkout of a hostile config repo: a symbolic link is never
followed to read or write (a target's paths bound what a bump may change), and a file over
the parse limits (an alias bomb) fails the bump naming it. docs/editing.md, "Symbolic links"
and "Parse limits"."""

from __future__ import annotations

from pathlib import Path

import pytest

from bumper import gitrepo
from bumper.errors import PermanentError
from tests.support.hostile_yaml import alias_bomb
from tests.worker.remotes import seeded_remote
from worker import edits

IMAGE = "ghcr.io/acme/api"
DEPLOY = b"spec:\n  containers:\n    - name: api\n      image: ghcr.io/acme/api:1.0\n"


def _bump(tmp_path: Path, remote: str, globs: list[str]) -> tuple[list[str], dict[str, bytes]]:
    """Find and apply a bump to 1.1 on a checkout; the paths it changed, and every file after."""
    with gitrepo.RepoCache(tmp_path / "cache").checkout(remote, "main") as checkout:
        found = edits.find(checkout, globs, IMAGE)
        applied = edits.apply(checkout, found, "1.1", None)
        after = {
            p.relative_to(checkout.root).as_posix(): p.read_bytes()
            for p in checkout.root.rglob("*.yaml")
            if not p.is_symlink() and ".git" not in p.parts
        }
    return sorted({r.path for r in applied.changes}), after


@pytest.mark.parametrize(
    ("links", "target"),
    [
        ({"apps/app/deploy.yaml": "../../prod/deploy.yaml"}, "prod/deploy.yaml"),
        ({"apps/app": "../prod"}, "prod/deploy.yaml"),  # a linked directory on the way
    ],
    ids=["linked-file", "linked-directory"],
)
def test_a_link_out_of_the_targets_paths_fails_the_bump_naming_it(
    tmp_path: Path, links: dict[str, str], target: str
) -> None:
    files = {"prod/deploy.yaml": DEPLOY, "apps/other/deploy.yaml": DEPLOY}
    if "apps/app" not in links:
        files["apps/app/own.yaml"] = DEPLOY
    remote = seeded_remote(tmp_path, files, links)
    with pytest.raises(PermanentError) as caught:
        _bump(tmp_path, remote, ["apps/app/*.yaml"])
    message = str(caught.value)
    assert "\n" not in message and caught.value.reason == "edit"
    assert f"a symbolic link to {target}, which the paths do not select: not followed" in message


def test_a_link_out_of_the_repository_fails_the_bump(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_bytes(DEPLOY)
    remote = seeded_remote(tmp_path, {"apps/ok.yaml": DEPLOY}, {"apps/evil.yaml": str(outside)})
    with pytest.raises(PermanentError, match=r"apps/evil\.yaml: a symbolic link to a path outside"):
        _bump(tmp_path, remote, ["apps/*.yaml"])
    assert outside.read_bytes() == DEPLOY


def test_a_link_to_a_file_the_paths_select_is_skipped_and_the_file_edited_once(
    tmp_path: Path,
) -> None:
    remote = seeded_remote(
        tmp_path, {"apps/v2.yaml": DEPLOY}, {"apps/current.yaml": "v2.yaml", "apps/now": "."}
    )
    with gitrepo.RepoCache(tmp_path / "cache").checkout(remote, "main") as checkout:
        found = edits.find(checkout, ["apps/**"], IMAGE)
        assert [r.path for r in found.references] == ["apps/v2.yaml"]
        assert [path for path, _ in found.skipped] == ["apps/current.yaml", "apps/now"]
        edits.apply(checkout, found, "1.1", None)
        assert (checkout.root / "apps/current.yaml").is_symlink()
        assert b"api:1.1" in (checkout.root / "apps/v2.yaml").read_bytes()


def test_an_alias_bomb_that_mentions_the_image_fails_the_bump_naming_it(tmp_path: Path) -> None:
    remote = seeded_remote(
        tmp_path, {"apps/deploy.yaml": DEPLOY, "apps/bomb.yaml": alias_bomb().encode()}, {}
    )
    with pytest.raises(PermanentError) as caught:
        _bump(tmp_path, remote, ["apps/*.yaml"])
    assert str(caught.value) == (
        "cannot read the target's files: apps/bomb.yaml: over the YAML parse limits: "
        "aliases expand to more than 100000 nodes, like an alias bomb (line 12)"
    )
