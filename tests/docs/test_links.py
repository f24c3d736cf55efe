"""Every relative link in README.md, docs/*.md and the charts' READMEs reaches a file that
exists and, with a ``#fragment``, a heading (or an explicit ``<a id>``) of that page, as GitHub
renders it. Nothing checked links before this test: docs/deploy.md pointed at README.md's
``#quick-start``, an anchor the README never had (its heading is "Quickstart: make run")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.blocks import REPO_ROOT

PAGES = sorted(
    [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md")]
    + list((REPO_ROOT / "charts").glob("*/README.md"))
)
_FENCED = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
_EXPLICIT = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, lower case, spaces to
    hyphens (``Quickstart: `make run` `` -> ``quickstart-make-run``)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor of ``page``, with GitHub's -1, -2... for repeated headings."""
    text = _FENCED.sub("", page.read_text())
    found: set[str] = set(_EXPLICIT.findall(text))
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(text):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def links(page: Path) -> list[str]:
    """The relative link targets of ``page`` (not in code blocks or code spans)."""
    text = _CODE.sub("", _FENCED.sub("", page.read_text()))
    return [t for t in _LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def broken(page: Path) -> list[str]:
    problems = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            problems.append(f"{target}: no heading #{fragment} in {dest.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert broken(page) == []


def test_slugs_follow_github() -> None:
    assert slug("Quickstart: `make run`") == "quickstart-make-run"
    assert slug("Install from the OCI charts") == "install-from-the-oci-charts"
    assert slug("Why `pin_digest` (and when not)?") == "why-pin_digest-and-when-not"


def test_a_wrong_anchor_and_a_missing_file_are_found(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## Quick start\n\n## Quick start\n")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md#quick-start) [dup](a.md#quick-start-1) [self](#here)\n\n## Here\n"
        "[bad](a.md#quickstart) [gone](c.md) `[code](c.md)`\n"
    )
    assert [p.split(":")[0] for p in broken(page)] == ["a.md#quickstart", "c.md"]
