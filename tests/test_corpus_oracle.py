"""Every plain ``image:`` line, split form and digest-only reference of ../shared/corpus/yaml
is found (issue 16): an oracle independent of the finder, a few line-level regular
expressions, lists the lines a human would call a reference, and each must be a line of a
reference ``finder.scan`` reports (templated and invalid ones count: they are reported,
never edited). A line the oracle lists that is not a reference by its schema or its text
(a skaffold artifact name, an empty repository, prose in a block of text) is counted under
its reason and printed; any other miss fails the test, listed per file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bumper.core import finder
from tests.conftest import SHARED

CORPUS = SHARED / "corpus" / "yaml"

# `image: value` on one line (plain or quoted), a list item's too.
IMAGE_LINE = re.compile(
    r"""^\s*(?:-\s+)?["']?image["']?\s*:\s+["']?([^\s"'#{}\[\]&*|>][^\s"'#]*)"""
)
REPOSITORY = re.compile(r"""^(\s*)(?:-\s+)?["']?repository["']?\s*:\s*["']?([^\s"'#]+)""")
TAG = re.compile(r"""^(\s*)["']?tag["']?\s*:""")
DIGEST_ONLY = re.compile(r"""[\w./-]+@sha256:[0-9a-f]{64}""")


def corpus_files() -> list[str]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        pytest.skip(f"{manifest} is absent")
    lines = manifest.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0] for line in lines if line]


def oracle(text: str) -> dict[int, str]:
    """Line (1-based) -> what the oracle saw there."""
    lines = text.split("\n")
    seen: dict[int, str] = {}
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("#"):
            continue
        if match := IMAGE_LINE.match(line):
            seen[number] = f"image: {match[1]}"
        elif match := REPOSITORY.match(line):
            indent = len(match[1]) + (2 if line.lstrip().startswith("- ") else 0)
            for after in lines[number : number + 6]:  # a sibling `tag:` a few lines below
                tag = TAG.match(after)
                if tag and len(tag[1]) == indent:
                    seen[number] = f"repository: {match[2]} + tag"
                    break
        if (match := DIGEST_ONLY.search(line)) and number not in seen:
            seen[number] = f"digest: {match[0][:40]}…"
    return seen


def found_lines(scanned: finder.Scan) -> set[int]:
    lines: set[int] = set()
    for found in scanned.found:
        lines.add(found.line)
        lines.update(s.line for s in (*found.slots, *found.name_slots))
    return lines


def text_lines(text: str) -> dict[int, str]:
    """Lines inside multi-line scalars (text, not YAML values), 1-based, with the style."""
    inside: dict[int, str] = {}
    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.ScalarEvent) and event.style in ("|", ">", "'", '"'):
            start, end = event.start_mark, event.end_mark
            if start is not None and end is not None and end.line > start.line:
                first = start.line + (2 if event.style in ("|", ">") else 1)
                inside.update(dict.fromkeys(range(first, end.line + 2), event.style))
    return inside


def reason(text: str, number: int, saw: str, texts: dict[int, str]) -> str | None:
    """Why a line the oracle lists is no reference; None when it should have been found."""
    value = saw.partition(": ")[2].removesuffix(" + tag")
    if "apiVersion: skaffold/" in text or re.search(r"^build:\s*\n\s+artifacts:", text, re.M):
        return "a skaffold build artifact's name"
    if saw.startswith("repository: ") and value in ("null", "~", '""', "''"):
        return "an empty or null repository: an override slot naming no image"
    style = texts.get(number)
    if style in ("|", ">"):
        return "text inside a block scalar (prose, a script, a template or a CEL expression)"
    # JSON text in a multi-line quoted string (kubeless runtimeImages, the deprecated
    # init-containers annotation) is scanned (finder_quoted): a line missed there is a miss.
    if value in ("true", "false", "null", "~", "yes", "no"):
        return "not a string"
    return None


def test_every_image_line_split_form_and_digest_reference_is_found() -> None:
    misses: list[str] = []
    explained: dict[str, int] = {}
    total = 0
    for file in corpus_files():
        text = (CORPUS / file).read_bytes().decode("utf-8").removeprefix("\ufeff")
        scanned = finder.scan(text)
        if scanned.skipped is not None:
            continue  # a Helm template: not YAML (tests/test_corpus_yaml.py covers the rest)
        seen, have = oracle(text), found_lines(scanned)
        total += len(seen)
        texts = text_lines(text) if set(seen) - have else {}
        for number, saw in sorted(seen.items()):
            if number in have:
                continue
            why = reason(text, number, saw, texts)
            if why is None:
                misses.append(f"{file}:{number}: {saw}")
            else:
                explained[why] = explained.get(why, 0) + 1
    print(f"oracle lines: {total}; not found, each with its reason: {explained}")
    assert total > 1000
    assert not misses, f"{len(misses)} lines not found:\n" + "\n".join(misses)


def test_the_oracle_sees_each_form() -> None:
    text = Path(__file__).parent.joinpath("golden", "digest-only", "before.yaml").read_text()
    assert any(v.startswith("digest: ") or "@sha256" in v for v in oracle(text).values())
    split = "image:\n  repository: ghcr.io/acme/api\n  pullPolicy: Always\n  tag: 1.0\n"
    assert oracle(split) == {2: "repository: ghcr.io/acme/api + tag"}
    assert oracle("  - image: 'nginx:1.25'\n") == {1: "image: nginx:1.25"}
