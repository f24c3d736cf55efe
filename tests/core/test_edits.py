"""bumper.core.edits: one record carries an image edit through found → planned → applied."""

from __future__ import annotations

import pytest

from bumper.core import finder
from bumper.core.edits import Edit, ImageEdit
from bumper.core.yaml import editor

OLD = "sha256:" + "a" * 64
TEXT = f"containers:\n  - image: acme/api:1.0@{OLD}\n  - image: acme/web:1.0\n"


def test_stages_run_in_order_and_keep_the_found_reference() -> None:
    (found,) = finder.find(TEXT, "acme/api")
    scanned = ImageEdit(found, "apps/deploy.yaml")
    planned = scanned.planned("1.1", None, [Edit(1, 2, "x")])
    applied = planned.applied()
    assert [r.stage for r in (scanned, planned, applied)] == ["found", "planned", "applied"]
    assert applied.found is found and applied.path == "apps/deploy.yaml"
    assert (applied.old, applied.new, applied.line, applied.kind) == (
        f"1.0@{OLD}",
        "1.1",
        found.line,
        found.kind,
    )
    with pytest.raises(ValueError, match="cannot apply an image edit that is found"):
        scanned.applied()
    with pytest.raises(ValueError, match="cannot plan an image edit that is applied"):
        applied.planned("1.2", None, ())


def test_the_editor_applies_the_records_it_scanned() -> None:
    scanned = editor.scan_image(TEXT, "docker.io/acme/api", "deploy.yaml")
    assert [r.stage for r in scanned.references] == ["found"]
    assert len(scanned.scanned) == 2 and scanned.text == TEXT  # verification sees both images
    edited = editor.edit_file(scanned, tag="1.1")
    (applied,) = edited.changes
    assert applied.stage == "applied" and applied.found is scanned.references[0].found
    assert edited.text == TEXT.replace(f"1.0@{OLD}", "1.1")
    assert edited.before == TEXT and "+  - image: acme/api:1.1\n" in edited.diff()
    current = editor.edit_file(editor.scan_image(edited.text, "acme/api"), tag="1.1")
    assert (current.changes, current.matched, current.text) == ((), 1, edited.text)
