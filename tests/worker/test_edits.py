"""worker.edits on a real checkout: a bump never silently leaves a file it cannot read behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from bumper import gitrepo
from bumper.errors import PermanentError
from tests.worker.remotes import seeded_remote
from worker import edits


def test_a_target_file_that_is_not_utf8_fails_the_bump_naming_it(tmp_path: Path) -> None:
    remote = seeded_remote(
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
    remote = seeded_remote(tmp_path, {"apps/ok.yaml": b"image: ghcr.io/acme/api:1.0  # pinned\n"})
    with gitrepo.RepoCache(tmp_path / "cache").checkout(remote, "main") as checkout:
        found = edits.find(checkout, ["apps/*.yaml"], "ghcr.io/acme/api")
        assert [(r.path, r.found.tag) for r in found.references] == [("apps/ok.yaml", "1.0")]
        applied = edits.apply(checkout, found, "1.1", None)
        assert [(r.path, r.old, r.new) for r in applied.changes] == [("apps/ok.yaml", "1.0", "1.1")]
        assert (
            checkout.root / "apps/ok.yaml"
        ).read_text() == "image: ghcr.io/acme/api:1.1  # pinned\n"
