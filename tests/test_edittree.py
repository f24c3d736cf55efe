"""bumper.edittree: scan once, plan every file in memory, then write atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from bumper import edittree
from bumper.errors import EditRefused

DEPLOY = "containers:\n  - image: ghcr.io/acme/api:1.0\n"
VALUES = "image:\n  repository: ghcr.io/acme/api\n  tag: '1.0'\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "a.yaml").write_text(DEPLOY)
    (tmp_path / "b.yaml").write_text(VALUES)
    (tmp_path / "c.yaml").write_text("image: redis:7\n")
    return tmp_path


def test_plan_edits_the_scanned_records_and_writes_nothing(tree: Path) -> None:
    found = edittree.scan_image(tree, ["."], "ghcr.io/acme/api")
    assert [(f.path, f.matched) for f in found.files] == [("a.yaml", 1), ("b.yaml", 1)]
    (tree / "a.yaml").write_text("changed after the scan\n")  # the scan's text is what is planned
    planned = edittree.plan_tree(found, tag="2.0")
    assert [r.found for r in planned.changes] == [r.found for r in found.references]
    assert {r.stage for r in planned.changes} == {"applied"}
    assert (tree / "a.yaml").read_text() == "changed after the scan\n"
    edittree.write_tree(tree, planned)
    assert (tree / "a.yaml").read_text() == DEPLOY.replace("1.0", "2.0")
    assert (tree / "b.yaml").read_text() == VALUES.replace("1.0", "2.0")


def test_one_refusal_writes_no_file(tree: Path) -> None:
    (tree / "d.yaml").write_text("image:\n  repository: ghcr.io/acme/api\n  tag: ''\n")
    with pytest.raises(EditRefused, match="^d.yaml: "):
        edittree.edit_tree(tree, ["."], "ghcr.io/acme/api", digest="sha256:" + "b" * 64)
    assert (tree / "a.yaml").read_text() == DEPLOY
    assert (tree / "b.yaml").read_text() == VALUES


def test_a_file_that_mentions_the_image_but_is_not_utf8_is_unreadable(tree: Path) -> None:
    (tree / "latin1.yaml").write_bytes("# café\nimage: ghcr.io/acme/api:1.0\n".encode("latin-1"))
    (tree / "other.yaml").write_bytes("# café\nimage: redis:7\n".encode("latin-1"))
    found = edittree.scan_image(tree, ["."], "ghcr.io/acme/api")
    assert [path for path, _ in found.unreadable] == ["latin1.yaml"]
    assert "not UTF-8" in found.unreadable[0][1]
    assert [f.path for f in found.files] == ["a.yaml", "b.yaml"]
    assert edittree.plan_tree(found, tag="2.0").unreadable == found.unreadable
