"""worker.edits on a real checkout: a bump never silently leaves a file it cannot read behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bumper import gitrepo
from bumper.errors import PermanentError
from worker import edits


def _remote(tmp_path: Path, files: dict[str, bytes]) -> str:
    seed = tmp_path / "seed"
    for name, data in files.items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_bytes(data)
    ident = ["-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*ident, "commit", "-qm", "seed"]):
        subprocess.run(["git", *args], cwd=seed, check=True, capture_output=True)
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    return str(bare)


def test_a_target_file_that_is_not_utf8_fails_the_bump_naming_it(tmp_path: Path) -> None:
    remote = _remote(
        tmp_path,
        {
            "apps/ok.yaml": b"image: ghcr.io/acme/api:1.0\n",
            "apps/latin1.yaml": "# caf\u00e9\nimage: ghcr.io/acme/api:1.0\n".encode("latin-1"),
        },
    )
    with gitrepo.RepoCache(tmp_path / "cache").checkout(remote, "main") as checkout:
        with pytest.raises(PermanentError, match=r"apps/latin1\.yaml: not UTF-8") as caught:
            edits.find(checkout, ["apps/*.yaml"], "ghcr.io/acme/api")
    assert caught.value.reason == "edit"


def test_found_references_are_applied_as_found(tmp_path: Path) -> None:
    remote = _remote(tmp_path, {"apps/ok.yaml": b"image: ghcr.io/acme/api:1.0  # pinned\n"})
    with gitrepo.RepoCache(tmp_path / "cache").checkout(remote, "main") as checkout:
        found = edits.find(checkout, ["apps/*.yaml"], "ghcr.io/acme/api")
        assert [(r.path, r.found.tag) for r in found.references] == [("apps/ok.yaml", "1.0")]
        applied = edits.apply(checkout, found, "1.1", None)
        assert [(r.path, r.old, r.new) for r in applied] == [("apps/ok.yaml", "1.0", "1.1")]
        assert (
            checkout.root / "apps/ok.yaml"
        ).read_text() == "image: ghcr.io/acme/api:1.1  # pinned\n"
