"""Golden before/after cases under tests/golden/ (see its README): one per location kind and
per YAML style trap. Byte-exact comparison; a second run must change nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bumper.core import finder, refs
from bumper.core.yaml import editor
from bumper.errors import EditRefused

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.parent.name for p in GOLDEN.glob("*/case.json"))


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def run_edits(text: str, edits: list[dict[str, Any]]) -> str:
    for edit in edits:
        text = editor.set_image(
            text, edit["image"], tag=edit.get("tag"), digest=edit.get("digest")
        ).text
    return text


def test_cases_are_discovered() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    folder = GOLDEN / name
    case = json.loads(read(folder / "case.json"))
    before = read(folder / "before.yaml")
    scanned = finder.scan(before)
    if "skipped" in case:
        assert scanned.skipped is not None and case["skipped"] in scanned.skipped.reason
        assert not (folder / "after.yaml").exists()
        return
    images = {refs.normalize_name(edit["image"]) for edit in case["edits"]}
    assert [f.kind for f in scanned.found if f.image in images] == case["kinds"]
    if "error" in case:
        with pytest.raises(EditRefused, match=case["error"]):
            run_edits(before, case["edits"])
        return
    after = run_edits(before, case["edits"])
    if os.environ.get("BUMPER_UPDATE_GOLDEN"):
        (folder / "after.yaml").write_bytes(after.encode("utf-8"))
    assert after == read(folder / "after.yaml")
    assert after != before
    assert run_edits(after, case["edits"]) == after  # already current: nothing to do
