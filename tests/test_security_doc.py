"""docs/security.md names the tests that show each claim: every one it names must exist, so the
page cannot drift from the suite (a renamed or deleted test fails here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "security.md"
# `tests/x.py::name` names a file and a test; a following `::name` is another test of that file.
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?(?: \([^`]*\))?`")


def named_tests(text: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    current: str | None = None
    for match in REFERENCE.finditer(text):
        path, name = match.group(1), match.group(2)
        if path:
            current = path
        if current and (path or name):
            found.append((current, name))
    return found


def test_every_test_the_security_page_names_exists() -> None:
    named = named_tests(PAGE.read_text(encoding="utf-8"))
    assert len(named) > 40  # the page cites its evidence
    missing = []
    for path, name in named:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
        elif name and not re.search(rf"^def {name}\(", file.read_text(), re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_the_page_covers_the_four_actors() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for actor in ("Internet sender", "Config-repo writer", "Redis writer", "Cluster tenant"):
        assert f"## {actor}" in text
