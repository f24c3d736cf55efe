"""docs/deploy.md: its values tables are what ``bumper.chartdoc`` generates from the charts, and
the bumper.yaml the page and the golden cases show is a valid config."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bumper import chartdoc, configfile
from tests.charts.helm import CASES, CHARTS, REPO

PAGE = REPO / "docs" / "deploy.md"


def test_values_tables_match_the_charts() -> None:
    page = PAGE.read_text()
    assert chartdoc.rewrite(page, REPO) == page, (
        "docs/deploy.md is stale: python -m bumper.chartdoc --write docs/deploy.md"
    )
    for name, chart in CHARTS.items():
        assert f"<!-- values: charts/{name} -->" in page
        for line in chartdoc.table(chart).splitlines()[2:]:
            assert line in page


def test_every_schema_key_has_a_row_and_bumper_keys_a_meaning() -> None:
    rows = chartdoc.table(CHARTS["bumper"]).splitlines()[2:]
    keys = {row.split("`")[1] for row in rows}
    assert {"web.service.port", "web.opsService.port", "externalRedis.url", "secrets.web"} <= keys
    assert all(not row.endswith("|  |") for row in rows), [r for r in rows if r.endswith("|  |")]


def test_comments_are_read_from_values_yaml() -> None:
    notes = chartdoc.comments("a:\n  # the b\n  # key\n  b: 1\n# c\nc:\n  - d: 2\n")
    assert notes == {"a.b": "the b key", "c": "c"}


def test_the_bumper_yaml_shown_is_valid(tmp_path: Path) -> None:
    page = PAGE.read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", page, re.S) if "receivers" in b]
    shown = yaml.safe_load(block)["config"]["bumper"]
    case = yaml.safe_load((CASES / "bumper--bundled.yaml").read_text())["config"]["bumper"]
    for bumper_yaml in (shown, case):
        result, issues = configfile.check_text(yaml.safe_dump(bumper_yaml))
        assert result is not None and not issues, issues
