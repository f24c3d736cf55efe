"""Golden before/after cases under tests/golden/ (see its README): one per location kind and
per YAML style trap. Byte-exact comparison; a second run must change nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bumper.core import finder, refs
from bumper.core.yaml import charteditor, editor
from bumper.errors import EditRefused

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.parent.name for p in GOLDEN.glob("*/case.json"))


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def run_edits(text: str, edits: list[dict[str, Any]]) -> str:
    for edit in edits:
        if "chart" in edit:  # a Helm chart version (core.yaml.charteditor)
            repository = edit.get("repository")
            text = charteditor.set_chart(
                text, edit["chart"], edit["version"], repository=repository
            ).text
            continue
        text = editor.set_image(
            text, edit["image"], tag=edit.get("tag"), digest=edit.get("digest")
        ).text
    return text


def edited_by(case: dict[str, Any], found: finder.Found) -> bool:
    """Whether ``found`` is a reference to one of the case's images or charts."""
    for edit in case["edits"]:
        if "chart" in edit:
            name, repository = charteditor.chart_identity(edit["chart"], edit.get("repository"))
            if charteditor.matches(found, name, repository):
                return True
        elif found.artifact == "image" and found.image == refs.normalize_name(edit["image"]):
            return True
    return False


def check_details(case: dict[str, Any], scanned: finder.Scan, mine: list[finder.Found]) -> None:
    """The optional keys of case.json: what ``scan`` says beside the kind."""
    if "confidence" in case:
        assert [f.confidence for f in mine] == case["confidence"]
    if "notes" in case:
        assert [f.note for f in mine] == case["notes"]
    if "uses" in case:
        assert [f.uses for f in mine] == case["uses"]
    if "templated" in case:
        assert sum(f.templated for f in scanned.found) == case["templated"]
    if "invalid" in case:
        assert sum(f.invalid for f in scanned.found) == case["invalid"]
    if "tags" in case:
        assert [f.tag for f in mine] == case["tags"]
    assert len(scanned.warnings) == len(case.get("warnings", []))
    for warning, fragment in zip(scanned.warnings, case.get("warnings", []), strict=True):
        assert fragment in warning


def test_cases_are_discovered() -> None:
    assert len(CASES) >= 30


def test_every_case_names_its_convention() -> None:
    rows = read(GOLDEN / "MANIFEST.tsv").splitlines()[1:]
    listed = {row.split("\t")[0]: row.split("\t")[1] for row in rows if row}
    assert sorted(listed) == CASES
    assert all(listed.values())


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
    mine = [f for f in scanned.found if edited_by(case, f)]
    assert [f.kind for f in mine] == case["kinds"]
    check_details(case, scanned, mine)
    if case.get("absent"):  # a negative case: nothing to find, nothing to edit
        assert run_edits(before, case["edits"]) == before
        assert not (folder / "after.yaml").exists()
        return
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
