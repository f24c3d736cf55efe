"""Recall against Renovate 39.x (issue 16): run the extract functions of Renovate's
kubernetes, helm-values, kustomize, docker-compose, argocd and flux managers over every file
of ../shared/corpus/yaml (tests/recall/renovate_extract.js, Renovate installed by
``make renovate``), and compare each file's count of image references with Bumper's.

Counting, per file:

* Renovate: the deps whose datasource is ``docker``, each placed on the line of the file
  holding its text (``replaceString``); the union over managers takes, per line, the most
  any one manager found there. Two managers reading one line two ways (``ko`` and
  ``ko://…``) are one reference, and a manager that expands an alias finds its anchor's line
  once per use.
* Bumper: ``finder.scan``, each reference counted once per use (an anchor and the aliases
  that follow it), templated and invalid references included: they are reported, never
  edited.

Every file where Bumper finds fewer is printed with, for each line Renovate has more on, a
specific reason; a shortfall with no known reason fails the test. Two kinds of Renovate deps
are not references by the issue's own definitions and are printed apart: a skaffold build
artifact's name, and a Helm values entry with an empty or null repository (an override slot
naming no image). The floor applies to Renovate's references; the raw figure is asserted too.

Renovate's extraction takes about half a minute; its output is cached beside the install,
keyed by the corpus and the extract script.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bumper.core import finder
from tests.conftest import SHARED

CORPUS = SHARED / "corpus" / "yaml"
HERE = Path(__file__).parent
# Measured on 389 files: Bumper >= Renovate's references on 386 (99.2 %), >= Renovate's raw
# count on 374 (96.1 %); docs/editing.md lists the remaining shortfalls.
FLOOR = 0.99
RAW_FLOOR = 0.96
LINE_MANAGERS = ("kubernetes", "docker-compose")  # they read `image:` lines
SKAFFOLD_BUILD = re.compile(r"^build:\s*\n(?:\s*#.*\n)*\s+artifacts:", re.MULTILINE)
NOT_REFERENCES = (
    "a skaffold build artifact's name",
    "an empty or null repository",
)


def _renovate_dir() -> Path:
    out = subprocess.run(
        ["bash", str(HERE / "install_renovate.sh"), "--dir"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def _corpus_key(files: list[str]) -> str:
    digest = hashlib.sha256((HERE / "renovate_extract.js").read_bytes())
    for name in files:
        digest.update(name.encode() + b"\0" + (CORPUS / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@pytest.fixture(scope="module")
def renovate() -> dict[str, Any]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"{CORPUS} is absent")
    directory = _renovate_dir()
    if not (directory / ".installed").is_file() or shutil.which("node") is None:
        if os.environ.get("BUMPER_TESTBED_REQUIRED"):
            pytest.fail("Renovate is not installed: run `make renovate`")
        pytest.skip("Renovate is not installed (make renovate)")
    files = [
        line.split("\t")[0]
        for line in (CORPUS / "MANIFEST.tsv").read_text().splitlines()[1:]
        if line
    ]
    cached = directory / f"extract-{_corpus_key(files)}.json"
    if cached.is_file():
        result: dict[str, Any] = json.loads(cached.read_text())
        return result
    out = subprocess.run(
        ["node", str(HERE / "renovate_extract.js"), str(directory), str(CORPUS), *files],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(out.stdout)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(out.stdout)
    partial.replace(cached)
    return result


Place = int | tuple[str, int]  # a line, or (the dep's text, index) when no line holds it


def _renovate_places(
    lines: list[str], per_manager: dict[str, list[dict[str, Any]]]
) -> tuple[collections.Counter[Place], dict[Place, dict[str, Any]]]:
    """Renovate's docker deps, counted per place (the union over managers, see above)."""
    union: collections.Counter[Place] = collections.Counter()
    deps_at: dict[Place, dict[str, Any]] = {}
    for manager, deps in per_manager.items():
        counted: collections.Counter[Place] = collections.Counter()
        seen: collections.Counter[str] = collections.Counter()
        for dep in deps:
            if dep.get("datasource") != "docker":
                continue
            needle = dep.get("replaceString") or ""
            if needle in ("", "undefined"):  # helm-values without a tag field: "undefined"
                needle = dep.get("depName") or ""
            place = _place(lines, needle, seen[needle], manager in LINE_MANAGERS)
            seen[needle] += 1
            counted[place] += 1
            deps_at.setdefault(place, dep)
        for place, count in counted.items():
            union[place] = max(union[place], count)
    return union, deps_at


_IMAGE_KEY = re.compile(
    r"\s*(?:-\s+)?[\"']?[\w./-]*(?:image|repository|repo|tag|version|name|digest)[\"']?\s*:",
    re.IGNORECASE,
)


def _place(lines: list[str], needle: str, index: int, image_lines: bool) -> Place:
    """The line (1-based) of the ``index``-th occurrence of ``needle``; the last one when a
    manager repeats it (an alias expanded)."""
    found = [n for n, line in enumerate(lines, 1) if needle and needle in line]
    if not found and "/" in needle:  # "registry/repository" composed from split fields
        return _place(lines, needle.partition("/")[2], index, image_lines)
    # Where the text is a value (after "key:", "- " or "="), not inside a name or a comment;
    # best of all, the value of a key naming an image or a part of one.
    as_value = re.compile(rf"(?:^|[:=-])\s*[\"']?{re.escape(needle)}")
    found = [n for n in found if as_value.search(lines[n - 1].split(" #")[0])] or found
    keyed = [n for n in found if _IMAGE_KEY.match(lines[n - 1])]
    found = keyed or ([] if image_lines else found) or found
    if not found:
        return (needle, index)
    return found[min(index, len(found) - 1)]


def _bumper_places(scanned: finder.Scan) -> collections.Counter[Place]:
    """Bumper's references, counted once per use on every line they occupy."""
    places: collections.Counter[Place] = collections.Counter()
    for found in scanned.found:
        lines = {found.line} | {s.line for s in (*found.slots, *found.name_slots)}
        for line in lines:
            places[line] += found.uses
    return places


def _blocks(text: str) -> list[tuple[int, int, str]]:
    """(first line, last line, style) of every block scalar of ``text`` (0-based lines)."""
    spans = []
    for event in yaml.parse(text, Loader=getattr(yaml, "CBaseLoader", yaml.BaseLoader)):
        if isinstance(event, yaml.ScalarEvent) and event.style in ("|", ">"):
            start, end = event.start_mark, event.end_mark
            if start is not None and end is not None:
                spans.append((start.line, end.line, event.style))
    return spans


def _reason(dep: dict[str, Any], text: str, line: str, number: int | None) -> str | None:
    """Why Bumper has no reference where Renovate has ``dep``; None when no reason is known."""
    name = dep.get("depName")
    value = f"{name or ''}:{dep.get('currentValue') or ''}"
    if "apiVersion: skaffold/" in text or SKAFFOLD_BUILD.search(text):
        return f"{NOT_REFERENCES[0]} ({name}): skaffold's schema, not a reference"
    if name in ("", "null") and not dep.get("skipReason"):
        return f"{NOT_REFERENCES[1]} ({value}): an override slot, the chart's default applies"
    if re.search(r"\.fluxcd\.io/[\w.-]*:\s*(glob|semver|regexp?):", line):
        return f"a Flux v1 tag-filter annotation ({value}), not a reference"
    if number is not None:
        for first, last, style in _blocks(text):
            if first < number - 1 <= last and style == ">":
                return (
                    f"text inside a folded block ({value}; a policy's CEL expression): "
                    "Renovate's line regex reads it, it is no YAML value"
                )
    return None


def test_bumper_finds_at_least_what_renovate_finds(renovate: dict[str, Any]) -> None:
    at_least = raw_at_least = 0
    report: list[str] = []
    unexplained: list[str] = []
    for file, per_manager in sorted(renovate.items()):
        text = (CORPUS / file).read_bytes().decode("utf-8")
        lines = text.split("\n")
        theirs, deps_at = _renovate_places(lines, per_manager)
        scanned = finder.scan(text)
        # chart versions are not counted: Renovate's extraction here lists images only
        scanned = dataclasses.replace(
            scanned, found=tuple(f for f in scanned.found if f.artifact == "image")
        )
        mine_at = _bumper_places(scanned)
        mine = sum(found.uses for found in scanned.found)
        short: list[tuple[str, bool]] = []
        for place, count in sorted(theirs.items(), key=str):
            if mine_at[place] >= count or mine >= sum(theirs.values()):
                continue
            number = place if isinstance(place, int) else None
            line = lines[number - 1] if number is not None else ""
            reason = _reason(deps_at[place], text, line, number)
            where = f"line {number}" if number is not None else "no line"
            if reason is None:
                unexplained.append(f"{file} {where}: {deps_at[place]}")
                reason = "UNEXPLAINED"
            short.append((f"  fewer at {where} ({count - mine_at[place]}): {reason}", False))
            if reason.startswith(NOT_REFERENCES):
                short[-1] = (short[-1][0], True)
        raw = sum(theirs.values())
        references = sum(
            count for place, count in theirs.items() if not _not_reference(deps_at[place], text)
        )
        report.append(f"{file}\tbumper={mine}\trenovate={raw}\trenovate_references={references}")
        raw_at_least += mine >= raw
        at_least += mine >= references
        if mine < raw:
            report += [line for line, _ in short]
    share, raw_share = at_least / len(renovate), raw_at_least / len(renovate)
    report.append(
        f"bumper >= renovate's references on {at_least} of {len(renovate)} files ({share:.1%}); "
        f">= renovate's raw count on {raw_at_least} ({raw_share:.1%})"
    )
    print("\n".join(report))
    if os.environ.get("BUMPER_RECALL_REPORT"):
        Path(os.environ["BUMPER_RECALL_REPORT"]).write_text("\n".join(report) + "\n")
    assert not unexplained, "shortfalls without a known reason:\n" + "\n".join(unexplained)
    assert share >= FLOOR
    assert raw_share >= RAW_FLOOR


def _not_reference(dep: dict[str, Any], text: str) -> bool:
    reason = _reason(dep, text, "", None)
    return reason is not None and reason.startswith(NOT_REFERENCES)
