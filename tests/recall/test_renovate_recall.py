"""Recall against Renovate 39.x (issue 16): run the extract functions of Renovate's
kubernetes, helm-values, kustomize, docker-compose, argocd and flux managers over every file
of ../shared/corpus/yaml (tests/recall/renovate_extract.js, Renovate installed by
``make renovate``), and compare each file's count of image references with Bumper's.

Renovate's count per file is the union over its managers of the deps whose datasource is
``docker`` (the same reference found by two managers counts once). Every file where Bumper
finds fewer is printed with the references Renovate has and Bumper lacks, each with the
reason (not a valid reference, an empty repository, a placeholder, a skaffold artifact).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bumper.core import finder, refs
from bumper.errors import InvalidReference
from tests.conftest import SHARED

CORPUS = SHARED / "corpus" / "yaml"
HERE = Path(__file__).parent
# Measured on 389 files: 358 (92.0 %). The target is 99 %: see docs/editing.md.
FLOOR = 0.92


def _renovate_dir() -> Path:
    out = subprocess.run(
        ["bash", str(HERE / "install_renovate.sh"), "--dir"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


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
    out = subprocess.run(
        ["node", str(HERE / "renovate_extract.js"), str(directory), str(CORPUS), *files],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _renovate_refs(per_manager: dict[str, list[dict[str, Any]]]) -> collections.Counter[str]:
    union: collections.Counter[str] = collections.Counter()
    for deps in per_manager.values():
        counted = collections.Counter(
            f"{d.get('depName') or ''}:{d.get('currentValue') or ''}@{d.get('currentDigest') or ''}"
            for d in deps
            if d.get("datasource") == "docker"
        )
        for key, count in counted.items():
            union[key] = max(union[key], count)
    return union


def _reason(key: str, file: str) -> str:
    name, _, rest = key.partition(":")
    if not name:
        return "an empty repository (the chart fills it from a global image)"
    if "skaffold" in file:
        return "a skaffold artifact name, not a reference"
    try:
        refs.parse(name)
    except InvalidReference as error:
        return f"not a valid reference ({error})"
    tag = rest.partition("@")[0]
    if tag:
        try:
            refs.validate_tag(tag)
        except InvalidReference as error:
            return f"not a valid tag ({error})"
    return (
        "found fewer times by Bumper (an alias counted once, or text Renovate's line regex reads)"
    )


def test_bumper_finds_at_least_what_renovate_finds(renovate: dict[str, Any]) -> None:
    at_least, report = 0, []
    for file, per_manager in sorted(renovate.items()):
        wanted = _renovate_refs(per_manager)
        scanned = finder.scan((CORPUS / file).read_bytes().decode("utf-8"))
        images = [f for f in scanned.found if f.artifact == "image"]  # charts: not counted
        mine = len(images)
        theirs = sum(wanted.values())
        report.append(f"{file}\tbumper={mine}\trenovate={theirs}")
        if mine >= theirs:
            at_least += 1
            continue
        have = collections.Counter(f"{refs.familiar(f.image)}" for f in images)
        for key, count in wanted.items():
            name = key.partition(":")[0]
            short = refs.familiar(refs.normalize_name(name)) if refs.is_valid(name) else name
            if have[short] < count:
                report.append(f"  fewer: {key.rstrip('@')}: {_reason(key, file)}")
    share = at_least / len(renovate)
    report.append(f"bumper >= renovate on {at_least} of {len(renovate)} files ({share:.1%})")
    print("\n".join(report))
    if os.environ.get("BUMPER_RECALL_REPORT"):
        Path(os.environ["BUMPER_RECALL_REPORT"]).write_text("\n".join(report) + "\n")
    assert share >= FLOOR
