"""``helm lint --strict`` and golden ``helm template`` output of both charts.

Each values file under cases/ (``<chart>--<case>.yaml``) renders to golden/<same name>; the
comparison is byte-exact, so any change to a template shows up as a diff to review.
Regenerate after an intended change:

    BUMPER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/charts/test_golden.py

The generated Redis password is random on every render: it is masked before comparing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.charts.helm import CASES, CHARTS, Helm, chart_of

GOLDEN = Path(__file__).parent / "golden"
CASE_NAMES = sorted(p.stem for p in CASES.glob("*.yaml"))
# The data value of the one generated Secret, within its own document (no "---" crossed).
GENERATED = re.compile(r"(\nkind: Secret\n(?:(?!---).*\n)*?data:\n  \S+: )\S+")


@pytest.fixture
def helm(testbed_bin_dir: Path, tmp_path: Path) -> Helm:
    return Helm(testbed_bin_dir, tmp_path)


def masked(text: str) -> str:
    return GENERATED.sub(r"\1<generated>", text)


def test_cases_cover_both_charts() -> None:
    assert {chart_of(c) for c in CASE_NAMES} == set(CHARTS)


@pytest.mark.parametrize("chart", sorted(CHARTS))
def test_lint_strict_is_clean(helm: Helm, chart: str) -> None:
    for case in [c for c in CASE_NAMES if chart_of(c) == chart]:
        done = helm.run(
            "lint", "--strict", str(CHARTS[chart]), "--values", str(CASES / f"{case}.yaml")
        )
        assert "0 chart(s) failed" in done.stdout, done.stdout
        assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


@pytest.mark.parametrize("case", CASE_NAMES)
def test_template_matches_golden(helm: Helm, case: str) -> None:
    text = masked(helm.template(str(CHARTS[chart_of(case)]), case))
    golden = GOLDEN / f"{case}.yaml"
    if os.environ.get("BUMPER_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.exists(), f"no {golden}: run with BUMPER_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"{case} drifted; review, then BUMPER_UPDATE_GOLDEN=1"


def test_the_password_is_generated_and_masked(helm: Helm) -> None:
    """The mask hides only the random value: two renders differ there and nowhere else."""
    first = helm.template(str(CHARTS["bumper"]), "bumper--default")
    second = helm.template(str(CHARTS["bumper"]), "bumper--default")
    assert first != second and masked(first) == masked(second)
    assert masked(first).count("<generated>") == 1
